"""Peer matches and their contacts, through the real intake, groups and volunteers services."""

from __future__ import annotations

import re

from tests.console.conftest import post_form, sign_in
from tests.volunteers import conftest as volunteering
from tests.volunteers.conftest import person, volunteer

services = volunteering.services
clients = volunteering.clients
PEER = ["peer_supporters"]
FOUNDATION = ["peer_support_foundation"]


async def _peer(clients, services, name: str) -> str:
    return await volunteer(
        clients, services, name, teams=PEER, courses=FOUNDATION, roles=["person_in_recovery"]
    )


async def _match(clients, match_id: str) -> dict:
    [found] = (await clients["volunteers"].ok("qry:peer_matches", match_id=match_id))["matches"]
    return found


async def test_a_coordinator_starts_a_match_logs_a_contact_and_ends_it(
    browser,
    add_user,
    clients,
    services,
):
    peer = await _peer(clients, services, "Peer Kwok")
    user = await person(clients, services, "Ah Fai", ["person_in_recovery"], consent=True)
    await add_user("vc-lau", ["volunteer_coordinator"])
    await sign_in(browser, "vc-lau")
    page = await browser.get("/peer")
    assert page.status_code == 200 and 'href="/peer"' in page.text
    assert 'action="/peer/match/start"' in page.text
    started = await post_form(
        browser, "/peer", "/peer/match/start", {"peer_volunteer_id": peer, "person_id": user}
    )
    assert started.status_code == 303, started.text
    match_id = started.headers["location"].split("match_id=")[1].split("&")[0]
    assert (await _match(clients, match_id))["status"] == "open"
    listed = await browser.get("/peer")
    assert f'data-match="{match_id}"' in listed.text
    assert "Ah Fai" not in listed.text  # a coordinator may not read intake's people
    logged = await post_form(
        browser,
        f"/peer?match_id={match_id}",
        "/peer/contact",
        {"match_id": match_id, "minutes": "45", "mode": "phone", "date": ""},
    )
    assert logged.status_code == 303, logged.text
    opened = await browser.get(logged.headers["location"])
    assert opened.text.count("data-contact=") == 1 and ">Phone<" in opened.text
    found = await _match(clients, match_id)
    assert found["contact_minutes"] == 45 and len(found["contacts"]) == 1
    ended = await post_form(
        browser,
        f"/peer?match_id={match_id}",
        "/peer/match/end",
        {"match_id": match_id, "reason": "goals_met"},
    )
    assert ended.status_code == 303, ended.text
    assert (await _match(clients, match_id))["status"] == "ended"


async def test_a_peer_supporter_sees_only_their_own_matches_and_cannot_start_one(
    browser,
    add_user,
    clients,
    services,
):
    mine = await _peer(clients, services, "Peer Kwok")
    theirs = await _peer(clients, services, "Peer Yip")
    first = await person(clients, services, "Ah Fai", ["person_in_recovery"], consent=True)
    second = await person(clients, services, "Ah Mei", ["person_in_recovery"], consent=True)
    v = clients["volunteers"]
    own = (await v.ok("start_peer_match", peer_volunteer_id=mine, person_id=first))["match_id"]
    other = (await v.ok("start_peer_match", peer_volunteer_id=theirs, person_id=second))["match_id"]
    await add_user(mine, ["peer_supporter"])  # a peer supporter signs in as their volunteer id
    await sign_in(browser, mine)
    page = await browser.get("/peer")
    assert f'data-match="{own}"' in page.text and f'data-match="{other}"' not in page.text
    assert 'action="/peer/match/start"' not in page.text
    refused = await post_form(
        browser, "/peer", "/peer/match/start", {"peer_volunteer_id": mine, "person_id": second}
    )
    assert refused.status_code == 403
    typed = {"match_id": own, "minutes": "a while", "mode": "visit", "date": ""}
    wrong = await post_form(browser, f"/peer?match_id={own}", "/peer/contact", typed)
    assert wrong.status_code == 200
    assert re.search(r'id="minutes-error">Enter a whole number\.<', wrong.text)
    assert re.search(r'name="minutes" type="text" value="a while"', wrong.text)
    assert re.search(r'value="visit" selected', wrong.text)
    assert (await _match(clients, own))["contact_count"] == 0


async def test_a_match_refused_is_shown_beside_its_field_with_what_was_chosen(
    browser, add_user, clients, services
):
    peer = await _peer(clients, services, "Peer Kwok")
    own_person = (await clients["volunteers"].ok("qry:volunteer", volunteer_id=peer))["person_id"]
    await add_user("vc-lau", ["volunteer_coordinator"])
    await sign_in(browser, "vc-lau")
    typed = {"peer_volunteer_id": peer, "person_id": own_person}
    refused = await post_form(browser, "/peer", "/peer/match/start", typed)
    assert refused.status_code == 200
    assert re.search(
        r'id="person_id-error">A peer supporter is never matched with themselves\.<', refused.text
    )
    assert f'name="person_id" type="text" value="{own_person}"' in refused.text
    assert f'<option value="{peer}" selected>' in refused.text
    assert (await clients["volunteers"].ok("qry:peer_matches"))["matches"] == []


async def test_a_social_worker_has_no_peer_page(browser, add_user):
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    assert 'href="/peer"' not in (await browser.get("/")).text
    assert (await browser.get("/peer")).status_code == 403
