"""Corrections: an hours entry or peer contact typed by mistake is voided with a reason."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from tests.conftest import eventually
from tests.groups.conftest import today
from tests.volunteers.conftest import person, session_on, volunteer
from tests.volunteers.test_volunteers import _events

FAMILY = ["family_volunteer_team"]


async def test_voided_hours_count_nowhere_and_a_duty_may_be_logged_again(clients, services, nc):
    v = clients["volunteers"]
    who = await volunteer(clients, services, "A", teams=FAMILY, courses=["volunteer_induction"])
    session = await session_on(clients, services, today() - timedelta(days=1))
    [duty] = (await v.ok("request_volunteers", session_id=session, role="helper", count=1))[
        "assignments"
    ]
    logged = await v.ok("log_hours", volunteer_id=who, assignment_id=duty)
    assert (await v.cmd("log_hours", volunteer_id=who, assignment_id=duty)).error.code == "conflict"
    assert (await v.ok("qry:volunteer", volunteer_id=who))["total_hours"] == 1.5

    voided = await v.ok("void_hours", hours_id=logged["hours_id"], reason="wrong_volunteer")
    assert voided == {"hours_id": logged["hours_id"], "voided": True}
    assert (await v.ok("qry:volunteer", volunteer_id=who))["total_hours"] == 0
    day = today().isoformat()
    assert (await v.ok("qry:hours", **{"from": day, "to": day}))["volunteers"] == []
    twice = await v.cmd("void_hours", hours_id=logged["hours_id"], reason="duplicate")
    assert twice.error.code == "conflict"
    unknown = await v.cmd("void_hours", hours_id=str(uuid4()), reason="other")
    assert unknown.error.code == "not_found"
    bad = await v.cmd("void_hours", hours_id=logged["hours_id"], reason="because")
    assert bad.error.code == "validation_error"

    again = await v.ok("log_hours", volunteer_id=who, assignment_id=duty)
    assert (await v.ok("qry:volunteer", volunteer_id=who))["total_hours"] == 1.5
    [event] = await eventually(lambda: _events(nc, "volunteers.hours.voided"))
    assert event == {
        "hours_id": logged["hours_id"],
        "volunteer_id": who,
        "team": FAMILY[0],
        "minutes": 90,
        "date": event["date"],
        "reason": "wrong_volunteer",
    }
    assert again["hours_id"] != logged["hours_id"]


async def test_a_voided_peer_contact_is_announced_with_its_facts(clients, services, nc):
    v = clients["volunteers"]
    peer = await volunteer(
        clients,
        services,
        "Peer",
        teams=["peer_supporters"],
        courses=["peer_support_foundation"],
        roles=["person_in_recovery"],
    )
    user = await person(clients, services, "User", ["person_in_recovery"], consent=True)
    match = (await v.ok("start_peer_match", peer_volunteer_id=peer, person_id=user))["match_id"]
    contact = await v.ok("log_peer_contact", match_id=match, minutes=30, mode="phone")
    await v.ok("void_peer_contact", contact_id=contact["contact_id"], reason="wrong_match")
    twice = await v.cmd("void_peer_contact", contact_id=contact["contact_id"], reason="other")
    assert twice.error.code == "conflict"
    [event] = await eventually(lambda: _events(nc, "volunteers.peer_contact.voided"))
    assert event["contact_id"] == contact["contact_id"] and event["match_id"] == match
    assert (event["minutes"], event["mode"], event["reason"]) == (30, "phone", "wrong_match")
