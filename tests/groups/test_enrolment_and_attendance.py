"""Enrolment respects eligibility learnt from intake's events, capacity and the waitlist."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

from tests.bus.helpers import stream_messages
from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import day, programme, registered
from tests.identity import HEAD_OFFICE


async def _events(nc, kind: str) -> list[dict]:
    return [
        json.loads(m.data)["data"]
        for m in await stream_messages(nc, "GROUPS")
        if json.loads(m.data)["type"] == kind
    ]


async def test_enrolment_beyond_capacity_goes_to_the_waitlist_and_a_withdrawal_promotes_the_first(
    staff, intake_staff, groups, nc
):
    group = await staff.ok("create_programme", **programme(capacity=2))
    people = [
        await registered(intake_staff, groups, f"Carer {i}", ["family_carer"]) for i in range(4)
    ]
    replies = [
        await staff.ok("enrol", programme_id=group["programme_id"], person_id=p) for p in people
    ]
    assert [r["status"] for r in replies] == ["enrolled", "enrolled", "waitlisted", "waitlisted"]
    withdrawn = await staff.ok("withdraw", enrollment_id=replies[0]["enrollment_id"])
    assert withdrawn["promoted"] == replies[2]["enrollment_id"]
    detail = await staff.ok("qry:programme", programme_id=group["programme_id"])
    assert detail["enrolments"] == {"enrolled": 2, "waitlisted": 1, "withdrawn": 1}
    assert [w["person_id"] for w in detail["waitlist"]] == [people[3]]
    again = await staff.cmd("withdraw", enrollment_id=replies[0]["enrollment_id"])
    assert again.error.code == "conflict"
    twice = await staff.cmd("enrol", programme_id=group["programme_id"], person_id=people[1])
    assert twice.error.code == "conflict"

    async def promoted():
        return await _events(nc, "groups.enrollment.promoted")

    [event] = await eventually(promoted)
    assert (event["enrollment_id"], event["person_id"]) == (replies[2]["enrollment_id"], people[2])


async def test_staff_enrolling_the_last_places_at_the_same_instant_never_overfill(
    staff, intake_staff, groups
):
    group = await staff.ok("create_programme", **programme(capacity=3))
    people = [
        await registered(intake_staff, groups, f"Member {i}", ["family_carer"]) for i in range(10)
    ]
    replies = await asyncio.gather(
        *(staff.cmd("enrol", programme_id=group["programme_id"], person_id=p) for p in people)
    )
    statuses = sorted(r.result["status"] for r in replies if r.ok)
    assert statuses == ["enrolled"] * 3 + ["waitlisted"] * 7
    async with groups.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM enrolments WHERE status = 'enrolled'") == 3


async def test_a_programme_needing_a_case_takes_only_people_with_an_open_case_here_in_its_roles(
    staff, intake_staff, groups
):
    training = await staff.ok(
        "create_programme",
        **programme(
            title="展翅自强 work-skills training",
            type="training_programme",
            target_roles=["person_in_recovery"],
            requires_case=True,
            tags=["resilience"],
        ),
    )
    with_case = await registered(intake_staff, groups, "Ah Ming", ["person_in_recovery"], case=True)
    no_case = await registered(intake_staff, groups, "Ah Fai", ["person_in_recovery"])
    carer = await registered(intake_staff, groups, "陳太", ["family_carer"], case=True)
    pid = training["programme_id"]
    assert (await staff.ok("enrol", programme_id=pid, person_id=with_case))["status"] == "enrolled"
    refused = await staff.cmd("enrol", programme_id=pid, person_id=no_case)
    assert (refused.error.code, refused.error.message) == (
        "not_allowed",
        "this programme needs an open case at this site",
    )
    wrong_role = await staff.cmd("enrol", programme_id=pid, person_id=carer)
    assert wrong_role.error.code == "not_allowed"
    assert "person_in_recovery" in wrong_role.error.message
    stranger = await staff.cmd("enrol", programme_id=pid, person_id=str(uuid4()))
    assert stranger.error.code == "not_found"
    elsewhere = await staff.cmd("enrol", site="jinsha", programme_id=pid, person_id=with_case)
    assert elsewhere.error.code == "not_found"


async def test_closing_a_case_in_intake_withdraws_the_persons_future_enrolments_at_the_site(
    staff, intake_staff, groups, nc
):
    training = await staff.ok(
        "create_programme",
        **programme(
            type="training_programme",
            target_roles=["person_in_recovery"],
            requires_case=True,
            capacity=1,
            schedule={
                "first_date": day(-7),
                "start_time": "10:00",
                "duration_min": 60,
                "repeat": "weekly",
                "count": 4,
            },
        ),
    )
    past = await staff.ok(
        "create_programme",
        **programme(
            title="Finished talk",
            type="psychoeducation_talk",
            target_roles=[],
            venue="Hall",
            facilitators=["sw-ho"],
            schedule={"first_date": day(-20), "start_time": "10:00", "duration_min": 60},
        ),
    )
    leaving = await registered(intake_staff, groups, "Ah Ming", ["person_in_recovery"], case=True)
    waiting = await registered(intake_staff, groups, "Ah Kin", ["person_in_recovery"], case=True)
    first = await staff.ok("enrol", programme_id=training["programme_id"], person_id=leaving)
    await staff.ok("enrol", programme_id=training["programme_id"], person_id=waiting)
    old = await staff.ok("enrol", programme_id=past["programme_id"], person_id=leaving)

    record = await intake_staff.ok("qry:person", person_id=leaving)
    await intake_staff.ok("close_case", case_id=record["cases"][0]["case_id"], reason="moved_away")

    async def withdrawn():
        return await _events(nc, "groups.enrollment.withdrawn")

    [event] = await eventually(withdrawn)
    assert (event["enrollment_id"], event["reason"], event["was"]) == (
        first["enrollment_id"],
        "case_closed",
        "enrolled",
    )
    [promotion] = await eventually(lambda: _events(nc, "groups.enrollment.promoted"))
    assert promotion["person_id"] == waiting
    detail = await staff.ok("qry:programme", programme_id=past["programme_id"])
    assert detail["enrolments"] == {"enrolled": 1}, "a finished programme keeps its history"
    assert old["status"] == "enrolled"


async def _group_with_members(staff, intake_staff, groups, n: int, **overrides):
    group = await staff.ok("create_programme", **programme(**overrides))
    people = [
        await registered(intake_staff, groups, f"Carer {i}", ["family_carer"]) for i in range(n)
    ]
    for person in people:
        await staff.ok("enrol", programme_id=group["programme_id"], person_id=person, on=day(-30))
    return group, people


async def test_recording_attendance_marks_the_session_held_and_recording_again_replaces_it(
    staff, intake_staff, groups, nc
):
    group, people = await _group_with_members(staff, intake_staff, groups, 3)
    session = group["session_ids"][0]
    first = await staff.ok(
        "record_attendance", session_id=session, present=people[:2], absent=people[2:], walk_ins=1
    )
    second = await staff.ok(
        "record_attendance", session_id=session, present=people, absent=[], walk_ins=2
    )
    assert (first["revision"], second["revision"]) == (1, 2)
    assert first["held_on"] == day(-28)

    held = await eventually(lambda: _events(nc, "groups.session.held"))
    assert len(held) == 1 and held[0]["date"] == day(-28)
    recorded = await eventually(lambda: _at_least(_events(nc, "groups.attendance.recorded"), 2))
    assert [(r["revision"], r["replaces"], len(r["present"]), r["walk_ins"]) for r in recorded] == [
        (1, False, 2, 1),
        (2, True, 3, 2),
    ]
    assert recorded[1]["tags"] == ["carer_support", "trauma_informed"]


async def _at_least(events, n: int):
    found = await events
    return found if len(found) >= n else []


async def test_attendance_is_refused_for_cancelled_or_future_sessions_and_for_strangers(
    staff, intake_staff, groups
):
    group, people = await _group_with_members(staff, intake_staff, groups, 2)
    sessions = group["session_ids"]
    await staff.ok("cancel_session", session_id=sessions[1], reason="Typhoon")
    cancelled = await staff.cmd("record_attendance", session_id=sessions[1], present=people)
    assert cancelled.error.code == "not_allowed"
    future = await staff.cmd("record_attendance", session_id=sessions[7], present=people)
    assert future.error.code == "not_allowed"
    stranger = str(uuid4())
    strangers = await staff.cmd(
        "record_attendance", session_id=sessions[0], present=[people[0], stranger]
    )
    assert strangers.error.code == "not_allowed"
    assert [d.message for d in strangers.error.details] == [stranger]
    both = await staff.cmd(
        "record_attendance", session_id=sessions[0], present=people, absent=[people[0]]
    )
    assert both.error.code == "validation_error"
    negative = await staff.cmd("record_attendance", session_id=sessions[0], walk_ins=-1)
    assert negative.error.details[0].field == "walk_ins"


async def test_an_open_talk_takes_walk_ins_as_counts_without_enrolment(staff, intake_staff, groups):
    talk = await staff.ok(
        "create_programme",
        **programme(
            title="Talk on welfare policy",
            type="psychoeducation_talk",
            capacity=0,
            target_roles=[],
            venue="Street office hall",
            facilitators=["sw-ho"],
            schedule={"first_date": day(-2), "start_time": "19:00", "duration_min": 90},
        ),
    )
    person = await registered(intake_staff, groups, "Neighbour", ["community_member"])
    refused = await staff.cmd("enrol", programme_id=talk["programme_id"], person_id=person)
    assert refused.error.code == "not_allowed"
    held = await staff.ok("record_attendance", session_id=talk["session_ids"][0], walk_ins=37)
    assert held["revision"] == 1


async def test_the_roster_shows_names_from_intake_at_read_time(staff, intake_staff, groups):
    group, people = await _group_with_members(staff, intake_staff, groups, 2)
    session = group["session_ids"][0]
    await staff.ok("record_attendance", session_id=session, present=[people[0]], absent=[people[1]])
    sw_lee = ServiceClient(staff.nc, "groups", "likang", "sw-lee")
    roster = await sw_lee.ok("qry:roster", session_id=session)
    assert [(p["display_name"], p["attendance"]) for p in roster["people"]] == [
        ("Carer 0", "present"),
        ("Carer 1", "absent"),
    ]
    assert roster["names_complete"] is True
    async with groups.pool.acquire() as conn:
        stored = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'groups'"
        )
    assert not {"preferred_name", "legal_name", "display_name"} & {r[0] for r in stored}
    log = await intake_staff.ok("qry:access_log", person_id=people[0])
    assert log["entries"][0]["actor"] == "sw-lee"


async def test_completion_counts_a_participant_who_attended_three_quarters_of_held_sessions(
    staff, intake_staff, groups
):
    group, people = await _group_with_members(staff, intake_staff, groups, 2)
    sessions = group["session_ids"][:4]
    for i, session in enumerate(sessions):
        present = people if i < 3 else [people[0]]
        absent = [p for p in people if p not in present]
        await staff.ok("record_attendance", session_id=session, present=present, absent=absent)
    result = await staff.ok("qry:completion", programme_id=group["programme_id"])
    assert result["sessions_held"] == 4
    assert [
        (p["attended"], p["attendance_rate"], p["completed"]) for p in result["participants"]
    ] == [
        (4, 1.0, True),
        (3, 0.75, True),
    ]


async def test_an_enrolment_repeated_with_its_command_id_is_enrolled_once(
    staff, intake_staff, groups, nc
):
    from shared.kit.bus.requests import request

    group = await staff.ok("create_programme", **programme())
    person = await registered(intake_staff, groups, "Carer", ["family_carer"])
    body = {
        "command_id": str(uuid4()),
        "programme_id": group["programme_id"],
        "person_id": person,
    }
    first = await request(nc, "cmd", "likang", "groups", "enrol", body, token=HEAD_OFFICE)
    again = await request(nc, "cmd", "likang", "groups", "enrol", body, token=HEAD_OFFICE)
    assert first.ok and again == first
    async with groups.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM enrolments") == 1
