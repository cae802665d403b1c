"""Programmes expand into sessions; the calendar refuses clashes of venue and facilitator."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from uuid import uuid4

from tests.bus.helpers import stream_messages
from tests.groups.conftest import day, programme


async def _groups_events(nc) -> list[dict]:
    import json

    return [json.loads(m.data) for m in await stream_messages(nc, "GROUPS")]


async def test_a_weekly_group_expands_into_eight_sessions_a_week_apart(staff, nc):
    created = await staff.ok("create_programme", **programme())
    assert len(created["session_ids"]) == 8
    detail = await staff.ok("qry:programme", programme_id=created["programme_id"])
    dates = [date.fromisoformat(s["date"]) for s in detail["sessions"]]
    assert [(b - a).days for a, b in pairwise(dates)] == [7] * 7
    assert {(s["start_time"], s["duration_min"]) for s in detail["sessions"]} == {("14:30", 90)}


async def test_a_weekday_house_meeting_skips_weekends(staff):
    monday = date.fromisoformat(day(-14))
    while monday.weekday() != 0:
        monday = date.fromordinal(monday.toordinal() - 1)
    created = await staff.ok(
        "create_programme",
        **programme(
            title="House meeting (家事会)",
            type="house_meeting",
            target_roles=[],
            capacity=40,
            facilitators=["sw-ho"],
            venue="Clubhouse hall",
            schedule={
                "first_date": monday.isoformat(),
                "start_time": "09:30",
                "duration_min": 30,
                "repeat": "weekdays",
                "count": 10,
            },
        ),
    )
    detail = await staff.ok("qry:programme", programme_id=created["programme_id"])
    dates = [date.fromisoformat(s["date"]) for s in detail["sessions"]]
    assert len(dates) == 10
    assert {d.weekday() for d in dates} == {0, 1, 2, 3, 4}
    assert (dates[-1] - dates[0]).days == 11


async def test_programme_and_session_events_carry_what_volunteers_and_reporting_need(staff, nc):
    created = await staff.ok(
        "create_programme",
        **programme(
            schedule={
                "first_date": day(3),
                "start_time": "10:00",
                "duration_min": 60,
                "repeat": "once",
                "count": 1,
            }
        ),
    )
    events = await _wait_events(nc, 2)
    assert [e["type"] for e in events] == ["groups.programme.created", "groups.session.scheduled"]
    scheduled = events[1]
    assert scheduled["site"] == "likang"
    assert scheduled["data"] == {
        "session_id": created["session_ids"][0],
        "programme_id": created["programme_id"],
        "programme_type": "support_group",
        "date": day(3),
        "start_time": "10:00:00",
        "duration_min": 60,
        "venue": "Activity room 1",
        "facilitators": ["sw-lee"],
        "tags": ["carer_support", "trauma_informed"],
        "rescheduled": False,
    }


async def _wait_events(nc, n: int) -> list[dict]:
    from tests.conftest import eventually

    async def read():
        events = await _groups_events(nc)
        return events if len(events) >= n else []

    return await eventually(read)


async def test_a_session_clashing_with_a_booked_venue_or_facilitator_is_refused_naming_it(staff):
    first = await staff.ok("create_programme", **programme())
    same_room = await staff.cmd(
        "create_programme",
        **programme(
            title="Talk",
            type="psychoeducation_talk",
            facilitators=["sw-chan"],
            schedule={"first_date": day(-7), "start_time": "15:00", "duration_min": 60},
        ),
    )
    assert same_room.error.code == "conflict"
    assert same_room.error.details[0].field == "venue"
    assert "Activity room 1" in same_room.error.details[0].message
    same_worker = await staff.cmd(
        "create_programme",
        **programme(
            title="Outing",
            type="outing",
            venue="Baiyun Mountain",
            schedule={"first_date": day(-7), "start_time": "13:00", "duration_min": 120},
        ),
    )
    assert same_worker.error.code == "conflict"
    assert [d.field for d in same_worker.error.details] == ["facilitators"]
    assert "sw-lee" in same_worker.error.details[0].message
    back_to_back = await staff.cmd(
        "create_programme",
        **programme(
            title="After",
            facilitators=["sw-lee"],
            schedule={"first_date": day(-7), "start_time": "16:00", "duration_min": 60},
        ),
    )
    assert back_to_back.ok
    other_site = await staff.cmd(
        "create_programme", site="jinsha", **programme(facilitators=["sw-wong"])
    )
    assert other_site.ok, "the same room name at another site is another room"

    moved = await staff.cmd(
        "reschedule_session",
        session_id=other_site.result["session_ids"][0],
        site="jinsha",
        date=day(-21),
        start_time="17:00",
    )
    assert moved.ok
    into_clash = await staff.cmd(
        "schedule_session", programme_id=first["programme_id"], date=day(-7), start_time="16:30"
    )
    assert into_clash.error.code == "conflict"


async def test_a_schedule_is_validated_with_field_details(staff):
    bad = await staff.cmd(
        "create_programme",
        **programme(
            type="picnic",
            capacity=-1,
            tags=["Trauma Informed"],
            schedule={
                "first_date": "2026-13-01",
                "start_time": "25:00",
                "duration_min": 1,
                "repeat": "monthly",
                "count": 0,
            },
        ),
    )
    assert bad.error.code == "validation_error"
    fields = {d.field for d in bad.error.details}
    assert {
        "type",
        "capacity",
        "tags",
        "schedule.first_date",
        "schedule.start_time",
        "schedule.duration_min",
        "schedule.repeat",
        "schedule.count",
    } <= fields
    once_many = await staff.cmd(
        "create_programme",
        **programme(
            schedule={
                "first_date": day(1),
                "start_time": "10:00",
                "duration_min": 60,
                "repeat": "once",
                "count": 3,
            }
        ),
    )
    assert once_many.error.details[0].field == "schedule"


async def test_cancelling_and_moving_sessions(staff, nc):
    created = await staff.ok("create_programme", **programme())
    first, second = created["session_ids"][:2]
    await staff.ok("cancel_session", session_id=first, reason="Typhoon signal 8")
    again = await staff.cmd("cancel_session", session_id=first, reason="x")
    assert again.error.code == "conflict"
    cannot_move = await staff.cmd(
        "reschedule_session", session_id=first, date=day(2), start_time="10:00"
    )
    assert cannot_move.error.code == "conflict"
    await staff.ok("reschedule_session", session_id=second, date=day(5), start_time="10:00")
    unknown = await staff.cmd("cancel_session", session_id=str(uuid4()), reason="x")
    assert unknown.error.code == "not_found"
    events = await _wait_events(nc, 11)
    cancelled = [e for e in events if e["type"] == "groups.session.cancelled"]
    assert cancelled[0]["data"]["session_id"] == first
    assert "Typhoon" not in str(cancelled)
    moved = [
        e["data"]
        for e in events
        if e["type"] == "groups.session.scheduled" and e["data"]["rescheduled"]
    ]
    assert (moved[0]["session_id"], moved[0]["date"]) == (second, day(5))
