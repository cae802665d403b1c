"""Volunteers: teams and training, fair duty picks for real sessions, hours and peer support."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from uuid import uuid4

from tests.bus.helpers import stream_messages
from tests.conftest import eventually
from tests.groups.conftest import today
from tests.identity import HEAD_OFFICE
from tests.volunteers.conftest import person, session_on, volunteer

PEER = ["peer_supporters"]
FAMILY = ["family_volunteer_team"]


async def _events(nc, kind: str) -> list[dict]:
    try:
        messages = await stream_messages(nc, "VOLUNTEERS")
    except Exception:  # noqa: BLE001 - no stream yet
        return []
    return [json.loads(m.data)["data"] for m in messages if json.loads(m.data)["type"] == kind]


async def test_a_volunteer_is_a_person_known_from_intake(clients, services, nc):
    carer = await person(clients, services, "陳太", ["family_carer"])
    registered = await clients["volunteers"].ok(
        "register_volunteer",
        person_id=carer,
        teams=FAMILY,
        skills=["cooking"],
        languages=["yue", "cmn"],
    )
    stranger = await clients["volunteers"].cmd(
        "register_volunteer", person_id=str(uuid4()), teams=FAMILY
    )
    assert stranger.error.code == "not_found"
    twice = await clients["volunteers"].cmd("register_volunteer", person_id=carer, teams=FAMILY)
    assert twice.error.code == "conflict"
    [event] = await eventually(lambda: _events(nc, "volunteers.volunteer.registered"))
    assert event["volunteer_id"] == registered["volunteer_id"]
    assert event["service_user"] is True, "a family carer who volunteers: transform to contribute"
    assert event["skills"] is None, "a volunteer's skills stay in volunteers"
    assert set(event) == {
        "volunteer_id",
        "person_id",
        "teams",
        "skills",
        "service_user",
        "registered_on",
    }


async def test_a_team_can_require_courses_before_a_volunteer_is_active_in_it(clients, services):
    v = clients["volunteers"]
    peer = await volunteer(clients, services, "Ah Ming", teams=PEER, roles=["person_in_recovery"])
    record = await v.ok("qry:volunteer", volunteer_id=peer)
    assert record["teams"] == [
        {"team": "peer_supporters", "active": False, "missing_courses": ["peer_support_foundation"]}
    ]
    trained = await v.ok(
        "record_training",
        volunteer_id=peer,
        course="peer_support_foundation",
        hours=12,
        completed_on=today().isoformat(),
    )
    assert trained["active_teams"] == ["peer_supporters"]
    record = await v.ok("qry:volunteer", volunteer_id=peer)
    assert record["teams"][0]["active"] is True
    committee = await v.ok("join_team", volunteer_id=peer, team="family_committee")
    assert committee["teams"] == ["peer_supporters", "family_committee"]


async def test_duties_go_to_suitable_trained_available_volunteers_with_fewest_recent_hours(
    clients, services, nc
):
    v = clients["volunteers"]
    day = today() + timedelta(days=7)
    busy = await volunteer(clients, services, "Busy", teams=FAMILY, courses=["volunteer_induction"])
    fresh = await volunteer(
        clients, services, "Fresh", teams=FAMILY, courses=["volunteer_induction"]
    )
    untrained = await volunteer(clients, services, "New", teams=FAMILY)
    away = await volunteer(
        clients, services, "Away", teams=FAMILY, courses=["volunteer_induction"], weekdays=range(0)
    )
    await v.ok(
        "log_hours",
        volunteer_id=busy,
        minutes=600,
        activity="outing",
        date=(today() - timedelta(days=5)).isoformat(),
    )
    session = await session_on(clients, services, day)

    picked = await v.ok("request_volunteers", session_id=session, role="co_facilitator", count=1)
    assert picked["missing"] == 0
    duties = await v.ok("qry:assignments", session_id=session)
    assert [d["volunteer_id"] for d in duties["assignments"]] == [fresh]
    again = await v.ok("request_volunteers", session_id=session, role="co_facilitator", count=1)
    assert again["assignments"] == [] and again["already_assigned"] == 1

    more = await v.ok("request_volunteers", session_id=session, role="helper", count=3)
    assert more["missing"] == 2
    assert more["passed_over"] == {"not_trained": 1, "not_available": 1}
    assert {untrained, away}.isdisjoint(
        {
            d["volunteer_id"]
            for d in (await v.ok("qry:assignments", session_id=session))["assignments"]
        }
    )
    made = await eventually(lambda: _events(nc, "volunteers.assignment.made"))
    assert made[0]["date"] == day.isoformat()


async def test_a_volunteer_is_not_booked_twice_at_overlapping_times(clients, services):
    v = clients["volunteers"]
    day = today() + timedelta(days=3)
    only = await volunteer(clients, services, "Only", teams=FAMILY, courses=["volunteer_induction"])
    first = await session_on(clients, services, day, "14:30")
    second = await session_on(
        clients, services, day, "15:00", venue="Room 2", facilitators=["sw-chan"]
    )
    await v.ok("request_volunteers", session_id=first, role="helper", count=1)
    overlap = await v.ok("request_volunteers", session_id=second, role="helper", count=1)
    assert overlap["missing"] == 1 and overlap["passed_over"] == {"already_booked": 1}
    assert only


async def test_a_decline_picks_someone_else_and_confirming_works(clients, services, nc):
    v = clients["volunteers"]
    a = await volunteer(clients, services, "A", teams=FAMILY, courses=["volunteer_induction"])
    b = await volunteer(clients, services, "B", teams=FAMILY, courses=["volunteer_induction"])
    session = await session_on(clients, services, today() + timedelta(days=2))
    [duty] = (await v.ok("request_volunteers", session_id=session, role="helper", count=1))[
        "assignments"
    ]
    declined = await v.ok("decline_assignment", assignment_id=duty, reason="family matter")
    assert declined["replacement"] is not None
    duties = {
        d["assignment_id"]: d
        for d in (await v.ok("qry:assignments", session_id=session))["assignments"]
    }
    assert duties[duty]["status"] == "declined"
    assert duties[declined["replacement"]]["volunteer_id"] in {a, b}
    assert duties[declined["replacement"]]["volunteer_id"] != duties[duty]["volunteer_id"]
    await v.ok("confirm_assignment", assignment_id=declined["replacement"])
    twice = await v.cmd("confirm_assignment", assignment_id=declined["replacement"])
    assert twice.error.code == "conflict"
    unknown = await v.cmd("confirm_assignment", assignment_id=str(uuid4()))
    assert unknown.error.code == "not_found"


async def test_cancelling_the_session_in_groups_cancels_its_duties(clients, services, nc):
    v = clients["volunteers"]
    await volunteer(clients, services, "A", teams=FAMILY, courses=["volunteer_induction"])
    session = await session_on(clients, services, today() + timedelta(days=4))
    [duty] = (await v.ok("request_volunteers", session_id=session, role="helper", count=1))[
        "assignments"
    ]
    await clients["groups"].ok("cancel_session", session_id=session, reason="Typhoon")
    [cancelled] = await eventually(lambda: _events(nc, "volunteers.assignment.cancelled"))
    assert cancelled["assignment_id"] == duty
    refused = await v.cmd("request_volunteers", session_id=session, role="helper", count=1)
    assert refused.error.code == "not_allowed"
    unknown = await v.cmd("request_volunteers", session_id=str(uuid4()), role="helper", count=1)
    assert unknown.error.code == "not_found"


async def test_hours_are_logged_per_team_and_an_attended_duty_logs_its_sessions_length(
    clients, services, nc
):
    v = clients["volunteers"]
    a = await volunteer(
        clients, services, "A", teams=[*FAMILY, "family_committee"], courses=["volunteer_induction"]
    )
    day = today() - timedelta(days=1)
    session = await session_on(clients, services, day)
    [duty] = (await v.ok("request_volunteers", session_id=session, role="helper", count=1))[
        "assignments"
    ]
    logged = await v.ok("log_hours", volunteer_id=a, assignment_id=duty)
    assert (logged["minutes"], logged["date"], logged["team"]) == (90, day.isoformat(), FAMILY[0])
    twice = await v.cmd("log_hours", volunteer_id=a, assignment_id=duty)
    assert twice.error.code == "conflict"
    await v.ok(
        "log_hours",
        volunteer_id=a,
        minutes=45,
        activity="committee meeting",
        team="family_committee",
        date=day.isoformat(),
    )
    not_member = await v.cmd("log_hours", volunteer_id=a, minutes=45, team="peer_supporters")
    assert not_member.error.code == "validation_error"
    no_minutes = await v.cmd("log_hours", volunteer_id=a)
    assert no_minutes.error.details[0].field == "minutes"
    future = await v.cmd(
        "log_hours", volunteer_id=a, minutes=5, date=(today() + timedelta(days=2)).isoformat()
    )
    assert future.error.code == "validation_error"
    period = await v.ok(
        "qry:hours",
        from_date=(today() - timedelta(days=7)).isoformat(),
        to_date=today().isoformat(),
    )
    assert period["by_team"] == {"family_committee": 0.8, "family_volunteer_team": 1.5}

    async def both_relayed() -> list[dict]:
        found = await _events(nc, "volunteers.hours.logged")
        return found if len(found) == 2 else []

    logged_events = await eventually(both_relayed)  # the relay may have sent one so far
    assert {(e["team"], e["minutes"]) for e in logged_events} == {
        ("family_volunteer_team", 90),
        ("family_committee", 45),
    }


async def test_recognition_lists_total_hours_and_milestones(clients, services):
    v = clients["volunteers"]
    a = await volunteer(clients, services, "A", teams=FAMILY)
    b = await volunteer(clients, services, "B", teams=FAMILY)
    for days_ago in range(1, 8):
        await v.ok(
            "log_hours",
            volunteer_id=a,
            minutes=8 * 60,
            date=(today() - timedelta(days=days_ago)).isoformat(),
        )
    await v.ok("log_hours", volunteer_id=b, minutes=90)
    listed = await v.ok("qry:recognition", milestones=[50, 100, 200])
    assert [
        (x["volunteer_id"], x["total_hours"], x["milestones_reached"], x["next_milestone"])
        for x in listed["volunteers"]
    ] == [(a, 56.0, [50], 100), (b, 1.5, [], 50)]


async def test_a_peer_supporter_is_matched_with_a_consenting_user_never_themselves_or_family(
    clients, services, nc
):
    v = clients["volunteers"]
    peer = await volunteer(
        clients,
        services,
        "Peer",
        teams=PEER,
        courses=["peer_support_foundation"],
        roles=["person_in_recovery"],
    )
    peer_person = (await v.ok("qry:volunteer", volunteer_id=peer))["person_id"]
    user = await person(clients, services, "User", ["person_in_recovery"], consent=True)
    no_consent = await person(clients, services, "Shy", ["person_in_recovery"])
    mother = await person(clients, services, "Peer's mother", ["family_carer"], consent=True)
    await clients["intake"].ok(
        "link_carer", carer_id=mother, cared_for_id=peer_person, relationship="parent"
    )
    untrained = await volunteer(clients, services, "New peer", teams=PEER)

    self_match = await v.cmd("start_peer_match", peer_volunteer_id=peer, person_id=peer_person)
    assert self_match.error.code == "not_allowed"

    async def family_refused() -> bool:
        reply = await v.cmd("start_peer_match", peer_volunteer_id=peer, person_id=mother)
        return not reply.ok and reply.error.details[0].message == "family link"

    await eventually(family_refused)
    consent = await v.cmd("start_peer_match", peer_volunteer_id=peer, person_id=no_consent)
    assert consent.error.code == "consent_required"
    not_trained = await v.cmd("start_peer_match", peer_volunteer_id=untrained, person_id=user)
    assert not_trained.error.code == "not_allowed"

    match = await v.ok(
        "start_peer_match",
        peer_volunteer_id=peer,
        person_id=user,
        on=(today() - timedelta(days=10)).isoformat(),
    )
    again = await v.cmd("start_peer_match", peer_volunteer_id=peer, person_id=user)
    assert again.error.code == "conflict"
    await v.ok(
        "log_peer_contact",
        match_id=match["match_id"],
        minutes=30,
        mode="phone",
        date=(today() - timedelta(days=3)).isoformat(),
    )
    before = await v.cmd(
        "log_peer_contact",
        match_id=match["match_id"],
        minutes=30,
        mode="visit",
        date=(today() - timedelta(days=20)).isoformat(),
    )
    assert before.error.code == "validation_error"
    await v.ok("end_peer_match", match_id=match["match_id"], reason="goals_met")
    ended = await v.cmd("end_peer_match", match_id=match["match_id"], reason="other")
    assert ended.error.code == "conflict"
    after = await v.cmd(
        "log_peer_contact",
        match_id=match["match_id"],
        minutes=10,
        mode="online",
        date=(today() + timedelta(days=0)).isoformat(),
    )
    assert after.ok, "a contact on the day the match ended still counts"
    anew = await v.ok("start_peer_match", peer_volunteer_id=peer, person_id=user)
    assert anew["match_id"] != match["match_id"]

    async def both_contacts() -> list[dict]:
        found = await _events(nc, "volunteers.peer_contact.logged")
        return found if len(found) == 2 else []

    contacts = await eventually(both_contacts)
    assert {(c["mode"], c["minutes"]) for c in contacts} == {("phone", 30), ("online", 10)}
    assert all("person_id" not in c for c in contacts)


async def test_volunteer_commands_are_idempotent(clients, services, nc):
    from shared.kit.bus.requests import request

    carer = await person(clients, services, "Carer", ["family_carer"])
    body = {"command_id": str(uuid4()), "person_id": carer, "teams": FAMILY}
    first, again = await asyncio.gather(
        request(nc, "cmd", "likang", "volunteers", "register_volunteer", body, token=HEAD_OFFICE),
        request(nc, "cmd", "likang", "volunteers", "register_volunteer", body, token=HEAD_OFFICE),
    )
    assert first.ok and again == first
    async with services["volunteers"].pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM volunteers") == 1
