"""The volunteer rota and the volunteers list, through the real intake, groups and
volunteers services."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.console.conftest import post_form, sign_in
from tests.groups.conftest import today
from tests.volunteers import conftest as volunteering
from tests.volunteers.conftest import session_on, volunteer

services = volunteering.services
clients = volunteering.clients
FAMILY = ["family_volunteer_team"]
INDUCTION = ["volunteer_induction"]


def _value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" type="text" value="([^"]*)"', html)
    assert found is not None, name
    return found[1]


async def _duties(clients, session_id: str) -> list[dict]:
    return (await clients["volunteers"].ok("qry:assignments", session_id=session_id))["assignments"]


async def test_ask_for_volunteers_name_one_and_confirm(browser, add_user, clients, services):
    who = await volunteer(clients, services, "Mrs Lau", teams=FAMILY, courses=INDUCTION)
    session_id = await session_on(clients, services, today() + timedelta(days=3))
    await add_user("vc-lau", ["volunteer_coordinator"])
    await sign_in(browser, "vc-lau")
    rota = await browser.get("/rota")
    assert rota.status_code == 200
    assert 'href="/rota"' in rota.text and "Family support group" in rota.text
    asked = await post_form(
        browser,
        "/rota",
        "/rota/request",
        {"session_id": session_id, "role": "helper", "count": "2", "skills": "", "teams": ""},
    )
    assert asked.status_code == 303, asked.text
    # Asking picks who fits (Mrs Lau): one place is still wanted, and shown as such.
    shown = await browser.get(asked.headers["location"])
    assert re.search(r'class="unfilled"[^>]*>[^<]*1 of 2 still wanted', shown.text)
    [duty] = await _duties(clients, session_id)
    assert duty["volunteer_id"] == who and duty["status"] == "proposed"
    assert f'data-assignment="{duty["assignment_id"]}"' in shown.text
    other = await volunteer(clients, services, "Mr Chan", teams=FAMILY, courses=INDUCTION)
    named = await post_form(
        browser,
        "/rota",
        "/rota/assign",
        {"session_id": session_id, "volunteer_id": other, "role": "helper", "skills": ""},
    )
    assert named.status_code == 303, named.text
    assert {d["volunteer_id"] for d in await _duties(clients, session_id)} == {who, other}
    shown = await browser.get("/rota")
    assert "still wanted" not in shown.text and "Every duty asked for is filled." in shown.text
    confirmed = await post_form(
        browser,
        "/rota",
        "/rota/answer",
        {"assignment_id": duty["assignment_id"], "answer": "confirm"},
    )
    assert confirmed.status_code == 303, confirmed.text
    statuses = {d["volunteer_id"]: d["status"] for d in await _duties(clients, session_id)}
    assert statuses == {who: "confirmed", other: "proposed"}


async def test_a_volunteer_named_who_lacks_a_skill_is_refused_beside_the_field(
    browser,
    add_user,
    clients,
    services,
):
    who = await volunteer(clients, services, "Mr Ho", teams=FAMILY, courses=INDUCTION)
    session_id = await session_on(clients, services, today() + timedelta(days=2))
    await add_user("vc-lau", ["volunteer_coordinator"])
    await sign_in(browser, "vc-lau")
    typed = {
        "session_id": session_id,
        "volunteer_id": who,
        "role": "cook",
        "skills": "cantonese_cooking",
    }
    refused = await post_form(browser, "/rota", "/rota/assign", typed)
    assert refused.status_code == 200
    assert re.search(
        r'id="assign-volunteer_id-error">This volunteer lacks a skill the duty needs\.<',
        refused.text,
    )
    assign = refused.text[refused.text.index('id="assign"') :]
    assert f'<option value="{who}" selected>{who}</option>' in assign
    assert _value(assign, "role") == "cook"
    assert _value(assign, "skills") == "cantonese_cooking"
    assert await _duties(clients, session_id) == []


async def test_volunteers_list_hours_and_deactivation(browser, add_user, clients, services):
    who = await volunteer(clients, services, "Auntie Chu", teams=FAMILY, courses=INDUCTION)
    await add_user("vc-lau", ["volunteer_coordinator"])
    await sign_in(browser, "vc-lau")
    listed = await browser.get("/volunteers")
    assert listed.status_code == 200
    # A volunteer coordinator may not read intake's people: the id, not the name.
    assert f'data-volunteer="{who}"' in listed.text and "Auntie Chu" not in listed.text
    logged = await post_form(
        browser,
        "/volunteers",
        "/volunteers/hours",
        {"volunteer_id": who, "minutes": "90", "on": today().isoformat(), "activity": "duty"},
    )
    assert logged.status_code == 303, logged.text
    [found] = (await clients["volunteers"].ok("qry:volunteers"))["volunteers"]
    assert found["total_hours"] == 1.5
    stopped = await post_form(
        browser,
        "/volunteers",
        "/volunteers/active",
        {"volunteer_id": who, "reason": "on_leave", "change": "deactivate"},
    )
    assert stopped.status_code == 303, stopped.text
    [found] = (await clients["volunteers"].ok("qry:volunteers", include_inactive=True))[
        "volunteers"
    ]
    assert found["active"] is False
    refused = await post_form(
        browser, "/volunteers", "/volunteers/hours", {"volunteer_id": who, "minutes": "lots"}
    )
    assert re.search(r'id="minutes-error">Enter a whole number\.<', refused.text)
    assert _value(refused.text, "minutes") == "lots"


async def test_a_centre_manager_sees_volunteers_names(browser, add_user, clients, services):
    await volunteer(clients, services, "Auntie Chu", teams=FAMILY, courses=INDUCTION)
    await add_user("mgr-wong", ["centre_manager"])
    await sign_in(browser, "mgr-wong")
    listed = await browser.get("/volunteers")
    assert "Auntie Chu" in listed.text


async def test_a_social_worker_has_no_rota_nor_volunteers(browser, add_user):
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    home = await browser.get("/")
    assert 'href="/rota"' not in home.text and 'href="/volunteers"' not in home.text
    assert (await browser.get("/rota")).status_code == 403
    assert (await browser.get("/volunteers")).status_code == 403
    refused = await post_form(browser, "/", "/rota/assign", {"role": "helper"})
    assert refused.status_code == 403
