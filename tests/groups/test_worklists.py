"""Groups' worklists: a site's calendar for a date range, and a person's enrolments and
attendance."""

from __future__ import annotations

from tests.conftest import ServiceClient
from tests.groups.conftest import day, programme, registered
from tests.identity import token_for


async def test_a_sites_calendar_lists_its_sessions_in_a_range_with_programme_venue_and_staff(
    staff, intake_staff, groups
):
    group = await staff.ok("create_programme", **programme())  # weekly from day(-28), 8 sessions
    talk = await staff.ok(
        "create_programme",
        **programme(
            title="Talk on sleep",
            type="psychoeducation_talk",
            capacity=0,
            target_roles=[],
            facilitators=["sw-ho"],
            venue="Hall",
            schedule={"first_date": day(-7), "start_time": "19:00", "duration_min": 60},
        ),
    )
    await staff.ok("cancel_session", session_id=group["session_ids"][3], reason="Typhoon")
    await staff.ok("record_attendance", session_id=group["session_ids"][2], walk_ins=1)
    coordinator = ServiceClient(
        staff.nc,
        "groups",
        "likang",
        "vc-mak",
        token=token_for("vc-mak", roles=["volunteer_coordinator"], sites=["likang"]),
    )
    week = await coordinator.ok("qry:calendar", **{"from": day(-14), "to": day(-7)})
    assert [
        (
            s["date"],
            s["start_time"],
            s["title"],
            s["type"],
            s["venue"],
            s["facilitators"],
            s["status"],
            s["site"],
        )
        for s in week["sessions"]
    ] == [
        (
            day(-14),
            "14:30",
            "Family support group (家属小组)",
            "support_group",
            "Activity room 1",
            ["sw-lee"],
            "held",
            "likang",
        ),
        (
            day(-7),
            "14:30",
            "Family support group (家属小组)",
            "support_group",
            "Activity room 1",
            ["sw-lee"],
            "cancelled",
            "likang",
        ),
        (
            day(-7),
            "19:00",
            "Talk on sleep",
            "psychoeducation_talk",
            "Hall",
            ["sw-ho"],
            "scheduled",
            "likang",
        ),
    ]
    assert week["sessions"][2]["session_id"] == talk["session_ids"][0]
    backwards = await coordinator.qry("calendar", **{"from": day(0), "to": day(-1)})
    assert backwards.error is not None and backwards.error.code == "validation_error"


async def test_a_persons_enrolments_and_attendance_newest_first(staff, intake_staff, groups):
    mum = await registered(intake_staff, groups, "陳太", ["family_carer"])
    group = await staff.ok("create_programme", **programme(capacity=1))
    talk = await staff.ok(
        "create_programme",
        **programme(
            title="Talk on sleep",
            type="psychoeducation_talk",
            capacity=0,
            target_roles=[],
            facilitators=["sw-ho"],
            venue="Hall",
            schedule={"first_date": day(-3), "start_time": "19:00", "duration_min": 60},
        ),
    )
    enrolled = await staff.ok(
        "enrol", programme_id=group["programme_id"], person_id=mum, on=day(-30)
    )
    sessions = group["session_ids"]
    await staff.ok("record_attendance", session_id=sessions[0], present=[mum])
    await staff.ok("record_attendance", session_id=sessions[1], absent=[mum])
    await staff.ok("record_attendance", session_id=talk["session_ids"][0], dropped_in=[mum])
    await staff.ok("withdraw", enrollment_id=enrolled["enrollment_id"], on=day(-1))

    record = await staff.ok("qry:person_enrolments", person_id=mum)
    assert [
        (e["enrollment_id"], e["title"], e["status"], e["enrolled_on"], e["withdrawn_on"])
        for e in record["enrolments"]
    ] == [
        (
            enrolled["enrollment_id"],
            "Family support group (家属小组)",
            "withdrawn",
            day(-30),
            day(-1),
        )
    ]
    assert [
        (a["session_id"], a["date"], a["type"], a["attendance"], a["dropped_in"])
        for a in record["attendance"]
    ] == [
        (talk["session_ids"][0], day(-3), "psychoeducation_talk", "present", True),
        (sessions[1], day(-21), "support_group", "absent", False),
        (sessions[0], day(-28), "support_group", "present", False),
    ]
