"""Fortnightly and monthly schedules, extending a programme, and changing its capacity."""

from __future__ import annotations

import json
from datetime import date

from tests.bus.helpers import stream_messages
from tests.conftest import eventually
from tests.groups.conftest import day, programme, registered


async def _events(nc, kind: str) -> list[dict]:
    return [
        json.loads(m.data)["data"]
        for m in await stream_messages(nc, "GROUPS")
        if json.loads(m.data)["type"] == kind
    ]


async def _dates(staff, programme_id: str) -> list[str]:
    found = await staff.ok("qry:programme", programme_id=programme_id)
    return [s["date"] for s in found["sessions"]]


async def test_a_fortnightly_group_extended_meets_on_its_schedule_and_clashes_are_refused(
    staff, nc
):
    fortnightly = {"first_date": "2026-11-03", "start_time": "14:30", "duration_min": 90}
    group = await staff.ok(
        "create_programme",
        **programme(schedule={**fortnightly, "repeat": "fortnightly", "count": 2}),
    )
    programme_id = group["programme_id"]
    # sw-lee is booked on the second date the extension would take.
    visits = await staff.ok(
        "create_programme",
        **programme(
            title="Home visit day",
            venue="Outreach",
            schedule={**fortnightly, "first_date": "2026-12-15", "duration_min": 60},
        ),
    )
    clash = await staff.cmd("extend_programme", programme_id=programme_id, count=2)
    assert clash.error is not None and clash.error.code == "conflict"
    assert [d.field for d in clash.error.details] == ["facilitators"]
    assert await _dates(staff, programme_id) == ["2026-11-03", "2026-11-17"]

    extended = await staff.ok("extend_programme", programme_id=programme_id, count=1)
    await staff.ok("cancel_session", session_id=visits["session_ids"][0], reason="moved")
    again = await staff.ok("extend_programme", programme_id=programme_id, count=1)
    assert await _dates(staff, programme_id) == [
        "2026-11-03",
        "2026-11-17",
        "2026-12-01",
        "2026-12-15",
    ]
    scheduled = await eventually(lambda: _at_least(_events(nc, "groups.session.scheduled"), 5))
    assert [e["session_id"] for e in scheduled[-2:]] == [
        *extended["session_ids"],
        *again["session_ids"],
    ]
    assert {e["start_time"] for e in scheduled[-2:]} == {"14:30:00"}


async def _at_least(events, n: int) -> list[dict]:
    found = await events
    return found if len(found) >= n else []


async def test_a_monthly_group_meets_on_the_second_tuesday(staff):
    group = await staff.ok(
        "create_programme",
        **programme(
            schedule={
                "first_date": "2026-11-10",
                "start_time": "10:00",
                "duration_min": 120,
                "repeat": "monthly_by_weekday",
                "count": 3,
            }
        ),
    )
    await staff.ok("extend_programme", programme_id=group["programme_id"], count=1)
    dates = await _dates(staff, group["programme_id"])
    assert dates == ["2026-11-10", "2026-12-08", "2027-01-12", "2027-02-09"]
    assert {date.fromisoformat(d).weekday() for d in dates} == {1}
    once = await staff.ok(
        "create_programme",
        **programme(
            title="Open day",
            venue="Hall",
            schedule={"first_date": day(3), "start_time": "10:00", "duration_min": 60},
        ),
    )
    refused = await staff.cmd("extend_programme", programme_id=once["programme_id"], count=1)
    assert refused.error is not None and refused.error.code == "not_allowed"


async def test_a_raise_promotes_the_waitlist_in_order_and_a_cut_keeps_everyone_enrolled(
    staff, intake_staff, groups, nc
):
    group = await staff.ok("create_programme", **programme(capacity=1))
    programme_id = group["programme_id"]
    people = [
        await registered(intake_staff, groups, f"Carer {i}", ["family_carer"]) for i in range(4)
    ]
    places = [await staff.ok("enrol", programme_id=programme_id, person_id=p) for p in people[:3]]
    assert [p["status"] for p in places] == ["enrolled", "waitlisted", "waitlisted"]

    raised = await staff.ok("change_capacity", programme_id=programme_id, capacity=2)
    assert (raised["was"], raised["enrolled"], raised["promoted"]) == (
        1,
        2,
        [places[1]["enrollment_id"]],
    )
    promoted = await eventually(lambda: _events(nc, "groups.enrollment.promoted"))
    assert [e["enrollment_id"] for e in promoted] == [places[1]["enrollment_id"]]
    [changed] = await eventually(lambda: _events(nc, "groups.programme.capacity_changed"))
    assert (changed["capacity"], changed["was"]) == (2, 1)

    cut = await staff.ok("change_capacity", programme_id=programme_id, capacity=1)
    assert (cut["enrolled"], cut["promoted"]) == (2, [])
    late = await staff.ok("enrol", programme_id=programme_id, person_id=people[3])
    assert late["status"] == "waitlisted"
    found = await staff.ok("qry:programme", programme_id=programme_id)
    assert found["capacity"] == 1 and found["enrolments"] == {"enrolled": 2, "waitlisted": 2}
    closed = await staff.cmd("change_capacity", programme_id=programme_id, capacity=0)
    assert closed.error is not None and closed.error.code == "conflict"
    assert (await staff.ok("qry:programme", programme_id=programme_id))["capacity"] == 1
