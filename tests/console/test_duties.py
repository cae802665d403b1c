"""A peer supporter's own duties, through the real intake, groups and volunteers services:
they confirm or decline what the coordinator proposed, and see no one else's."""

from __future__ import annotations

from datetime import timedelta

from tests.console.conftest import post_form, sign_in
from tests.groups.conftest import today
from tests.volunteers import conftest as volunteering
from tests.volunteers.conftest import session_on, volunteer

services = volunteering.services
clients = volunteering.clients
PEER = ["peer_supporters"]
FOUNDATION = ["peer_support_foundation"]


async def _peer(clients, services, name: str) -> str:
    return await volunteer(
        clients, services, name, teams=PEER, courses=FOUNDATION, roles=["person_in_recovery"]
    )


async def _proposed(clients, session_id: str, volunteer_id: str) -> str:
    named = await clients["volunteers"].ok(
        "assign_volunteer", session_id=session_id, volunteer_id=volunteer_id, role="peer_support"
    )
    return str(named["assignment_id"])


async def _status(clients, session_id: str, assignment_id: str) -> str:
    found = await clients["volunteers"].ok("qry:assignments", session_id=session_id)
    return next(a["status"] for a in found["assignments"] if a["assignment_id"] == assignment_id)


async def test_a_peer_supporter_confirms_one_duty_and_declines_another(
    browser, add_user, clients, services
):
    kwok = await _peer(clients, services, "Peer Kwok")
    other = await _peer(clients, services, "Peer Ma")
    first = await session_on(clients, services, today() + timedelta(days=2))
    second = await session_on(clients, services, today() + timedelta(days=9))
    mine = [await _proposed(clients, first, kwok), await _proposed(clients, second, kwok)]
    theirs = await _proposed(clients, first, other)
    await add_user(kwok, ["peer_supporter"])
    await sign_in(browser, kwok)

    shown = await browser.get("/duties")
    assert shown.status_code == 200 and 'href="/duties"' in shown.text
    for assignment in mine:
        assert f'data-assignment="{assignment}" data-status="proposed"' in shown.text
    assert theirs not in shown.text

    confirmed = await post_form(
        browser, "/duties", "/duties/answer", {"assignment_id": mine[0], "answer": "confirm"}
    )
    assert confirmed.status_code == 303, confirmed.text
    declined = await post_form(
        browser,
        "/duties",
        "/duties/answer",
        {"assignment_id": mine[1], "answer": "decline", "reason": "Away that week"},
    )
    assert declined.status_code == 303, declined.text
    assert "Declined." in (await browser.get(declined.headers["location"])).text
    assert await _status(clients, first, mine[0]) == "confirmed"
    assert await _status(clients, second, mine[1]) == "declined"

    # Another supporter's duty: volunteers refuses, the page says so and nothing changes.
    refused = await post_form(
        browser, "/duties", "/duties/answer", {"assignment_id": theirs, "answer": "confirm"}
    )
    assert refused.status_code == 200 and 'role="alert"' in refused.text
    assert await _status(clients, first, theirs) == "proposed"


async def test_the_page_is_only_for_peer_supporters(browser, add_user):
    await add_user("vc-lau", ["volunteer_coordinator"])
    await sign_in(browser, "vc-lau")
    assert (await browser.get("/duties")).status_code == 403
    assert 'href="/duties"' not in (await browser.get("/")).text
