"""Registered people who come without enrolling are marked present as drop-ins."""

from __future__ import annotations

import json

from tests.bus.helpers import stream_messages
from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import day, programme, registered


def _talk() -> dict:
    return programme(
        title="Talk on welfare policy",
        type="psychoeducation_talk",
        capacity=0,
        target_roles=[],
        venue="Street office hall",
        facilitators=["sw-ho"],
        schedule={"first_date": day(-2), "start_time": "19:00", "duration_min": 90},
    )


async def _attendance_events(nc) -> list[dict]:
    return [
        json.loads(m.data)["data"]
        for m in await stream_messages(nc, "GROUPS")
        if json.loads(m.data)["type"] == "groups.attendance.recorded"
    ]


async def test_a_capacity_0_talk_credits_registered_people_who_drop_in(
    staff, intake_staff, groups, nc
):
    talk = await staff.ok("create_programme", **_talk())
    session = talk["session_ids"][0]
    people = [
        await registered(intake_staff, groups, f"Neighbour {i}", ["community_member"])
        for i in range(2)
    ]
    held = await staff.ok("record_attendance", session_id=session, dropped_in=people, walk_ins=30)
    assert held["revision"] == 1

    [recorded] = await eventually(lambda: _attendance_events(nc))
    assert (recorded["present"], recorded["dropped_in"], recorded["walk_ins"]) == (
        people,
        people,
        30,
    )
    roster = await ServiceClient(staff.nc, "groups", "likang", "sw-lee").ok(
        "qry:roster", session_id=session
    )
    assert sorted(
        (p["person_id"], p["enrollment_id"], p["attendance"], p["dropped_in"], p["display_name"])
        for p in roster["people"]
    ) == sorted(
        (person, None, "present", True, f"Neighbour {i}") for i, person in enumerate(people)
    )


async def test_drop_ins_are_refused_with_the_reason_where_a_case_or_a_target_role_is_needed(
    staff, intake_staff, groups
):
    client = await registered(intake_staff, groups, "Ah Ming", ["person_in_recovery"], case=True)
    training = await staff.ok(
        "create_programme",
        **programme(
            title="Work skills",
            type="training_programme",
            requires_case=True,
            target_roles=["person_in_recovery"],
            venue="Training room",
        ),
    )
    refused = await staff.cmd(
        "record_attendance", session_id=training["session_ids"][0], dropped_in=[client]
    )
    assert refused.error is not None and refused.error.code == "not_allowed"
    assert [(d.field, d.message) for d in refused.error.details] == [
        ("dropped_in", "programme requires a case")
    ]

    carers_group = await staff.ok(
        "create_programme", **programme(facilitators=["sw-ho"], venue="Activity room 2")
    )
    session = carers_group["session_ids"][0]
    lacking = await staff.cmd("record_attendance", session_id=session, dropped_in=[client])
    assert lacking.error is not None and lacking.error.code == "not_allowed"
    assert lacking.error.message == "this programme is for family_carer"
    programme_now = await staff.ok("qry:programme", programme_id=carers_group["programme_id"])
    assert programme_now["sessions"][0]["status"] == "scheduled"  # nothing changed
    mum = await registered(intake_staff, groups, "陳太", ["family_carer"])
    await staff.ok("record_attendance", session_id=session, dropped_in=[mum])
