"""Groups' calendar rules without servers: schedules, clashes, sessions and attendance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from itertools import pairwise
from uuid import UUID, uuid4

import pytest

from services.groups.domain import (
    Booking,
    Programme,
    Session,
    SessionStatus,
    Slot,
    clashes_within,
    refuse_clashes,
    session_dates,
)
from shared.kit.contracts.groups import Repeat, Schedule
from shared.kit.contracts.replies import CommandError

MONDAY = date(2026, 11, 2)


def schedule(repeat: Repeat, count: int = 1, first: date = MONDAY) -> Schedule:
    return Schedule(
        first_date=first, start_time=time(9, 30), duration_min=30, repeat=repeat, count=count
    )


def slot(
    day: date = MONDAY,
    start: str = "14:30",
    minutes: int = 90,
    venue: str = "Activity room 1",
    facilitators: tuple[str, ...] = ("sw-lee",),
) -> Slot:
    return Slot.of(day, time.fromisoformat(start), minutes, venue, facilitators)


def booked(other: Slot, site: str = "likang") -> Booking:
    return Booking(uuid4(), site, other)


def refusal(call: Callable[..., object], *args: object, **kwargs: object) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call(*args, **kwargs)
    return caught.value


def refused(call: Callable[..., object], *args: object) -> bool:
    try:
        call(*args)
    except CommandError:
        return True
    return False


def fields(error: CommandError) -> list[str]:
    return [d.field for d in error.details]


def programme_session(status: SessionStatus = "scheduled", day: date = MONDAY) -> Session:
    programme = Programme(uuid4(), "likang", "support_group", capacity=12, tags=("carer_support",))
    session = programme.session(uuid4(), slot(day))
    session.status = status
    return session


# --- a schedule expands into sessions -------------------------------------------------------


def test_a_schedule_that_happens_once_is_one_session_on_its_first_date():
    assert session_dates(schedule("once")) == [MONDAY]


def test_a_daily_schedule_meets_on_consecutive_days_weekends_included():
    days = session_dates(schedule("daily", 7))
    assert [d - MONDAY for d in days] == [timedelta(days=i) for i in range(7)]


def test_a_weekly_schedule_meets_on_the_same_weekday_each_week():
    days = session_dates(schedule("weekly", 8))
    assert len(days) == 8
    assert {d.weekday() for d in days} == {MONDAY.weekday()}
    assert all(later - earlier == timedelta(weeks=1) for earlier, later in pairwise(days))


def test_a_weekday_schedule_skips_saturdays_and_sundays():
    friday = MONDAY + timedelta(days=4)
    days = session_dates(schedule("weekdays", 20, first=friday))
    assert len(days) == 20
    assert all(d.weekday() < 5 for d in days)
    assert days[:2] == [friday, friday + timedelta(days=3)]


# --- clashes ---------------------------------------------------------------------------------


def test_a_session_at_a_venue_already_booked_at_an_overlapping_time_is_refused():
    other = booked(slot(start="14:00", facilitators=("sw-ho",)))
    error = refusal(refuse_clashes, slot(), "likang", [other])
    assert error.code == "conflict"
    assert fields(error) == ["venue"]
    assert str(other.session_id) in error.details[0].message


def test_a_facilitator_booked_at_an_overlapping_time_anywhere_is_refused():
    other = booked(slot(start="15:00", venue="Hall"), site="jinsha")
    error = refusal(refuse_clashes, slot(), "likang", [other])
    assert error.code == "conflict"
    assert fields(error) == ["facilitators"]
    assert "sw-lee" in error.details[0].message


def test_the_same_venue_name_at_another_site_is_another_room():
    other = booked(slot(facilitators=("sw-ho",)), site="jinsha")
    assert not refused(refuse_clashes, slot(), "likang", [other])
    assert refused(refuse_clashes, slot(), "jinsha", [other])


def test_a_session_starting_when_the_other_ends_does_not_clash():
    other = booked(slot(start="13:00", minutes=90))
    assert not refused(refuse_clashes, slot(start="14:30"), "likang", [other])
    assert refused(refuse_clashes, slot(start="14:29"), "likang", [other])


def test_every_clash_is_named_in_the_details():
    first = booked(slot(start="14:00"))
    second = booked(slot(start="15:30", venue="Hall", facilitators=("sw-lee", "sw-ho")))
    wanted = slot(facilitators=("sw-lee", "sw-ho"), minutes=120)
    error = refusal(refuse_clashes, wanted, "likang", [first, second])
    assert fields(error) == ["venue", "facilitators", "facilitators", "facilitators"]


def test_a_new_programmes_own_sessions_must_not_overlap_each_other():
    error = refusal(clashes_within, [slot(start="15:00"), slot(start="14:30")])
    assert (error.code, fields(error)) == ("validation_error", ["schedule"])


def test_a_new_programmes_sessions_on_different_days_are_fine_together():
    assert not refused(clashes_within, [slot(MONDAY + timedelta(days=i)) for i in range(5)])


# --- sessions --------------------------------------------------------------------------------


def test_a_session_added_on_its_own_is_as_long_as_the_latest_at_the_programmes_venue():
    programme = Programme(
        uuid4(), "likang", "support_group", 12, facilitators=("sw-lee",), venue="Room 1"
    )
    added = programme.next_slot(MONDAY, time(10), None, None, None, latest_length=45)
    assert (added.duration_min, added.venue, added.facilitators) == (45, "Room 1", ("sw-lee",))
    first = programme.next_slot(MONDAY, time(10), None, "Hall", [], latest_length=None)
    assert (first.duration_min, first.venue, first.facilitators) == (60, "Hall", ())


@pytest.mark.parametrize("status", ["cancelled", "held"])
def test_only_a_scheduled_session_can_be_cancelled(status: SessionStatus):
    error = refusal(programme_session(status).cancel)
    assert error.code == "conflict"
    assert status in error.message


def test_cancelling_a_scheduled_session_marks_it_cancelled():
    session = programme_session()
    session.cancel()
    assert session.status == "cancelled"


@pytest.mark.parametrize("status", ["cancelled", "held"])
def test_only_a_scheduled_session_can_be_moved(status: SessionStatus):
    error = refusal(programme_session(status).reschedule, MONDAY, time(9), None, None)
    assert (error.code, [d.message for d in error.details]) == ("conflict", [status])


def test_a_moved_session_keeps_its_length_venue_and_facilitators_unless_told():
    session = programme_session()
    before = session.slot
    session.reschedule(MONDAY + timedelta(days=1), time(10), None, None)
    after = session.slot
    assert after.starts_at.date() == MONDAY + timedelta(days=1)
    assert (after.duration_min, after.venue, after.facilitators) == (
        before.duration_min,
        before.venue,
        before.facilitators,
    )
    session.reschedule(MONDAY, time(10), 30, "Hall")
    assert (session.slot.duration_min, session.slot.venue) == (30, "Hall")


# --- attendance ------------------------------------------------------------------------------


def mark(session: Session, present: list[UUID], absent: list[UUID], enrolled: set[UUID], **kw):
    return session.record_attendance(
        present,
        absent,
        kw.get("walk_ins", 0),
        today=kw.get("today", MONDAY),
        may_be_marked=enrolled,
    )


def test_recording_attendance_marks_the_session_held_and_the_first_record_is_revision_1():
    session = programme_session()
    mum, dad = uuid4(), uuid4()
    attendance = mark(session, [mum, mum], [dad], {mum, dad}, walk_ins=2)
    assert session.status == "held"
    assert (attendance.revision, attendance.first, attendance.replaces) == (1, True, False)
    assert (attendance.present, attendance.absent, session.walk_ins) == ([mum], [dad], 2)


def test_recording_attendance_again_replaces_the_earlier_record():
    session = programme_session()
    mum = uuid4()
    mark(session, [mum], [], {mum})
    again = mark(session, [], [mum], {mum})
    assert (again.revision, again.first, again.replaces) == (2, False, True)
    assert session.attendance_revision == 2


def test_a_cancelled_session_refuses_attendance():
    error = refusal(mark, programme_session("cancelled"), [], [], set())
    assert (error.code, fields(error)) == ("not_allowed", ["session_id"])


def test_a_future_session_refuses_attendance_until_its_day():
    tomorrow = programme_session(day=MONDAY + timedelta(days=1))
    error = refusal(mark, tomorrow, [], [], set(), today=MONDAY)
    assert (error.code, fields(error)) == ("not_allowed", ["session_id"])
    assert mark(tomorrow, [], [], set(), today=MONDAY + timedelta(days=1)).revision == 1


def test_a_person_cannot_be_both_present_and_absent():
    mum = uuid4()
    error = refusal(mark, programme_session(), [mum], [mum], {mum})
    assert (error.code, [(d.field, d.message) for d in error.details]) == (
        "validation_error",
        [("absent", str(mum))],
    )


def test_only_people_who_may_be_marked_are_marked_and_others_count_as_walk_ins():
    mum, stranger, other = uuid4(), uuid4(), uuid4()
    session = programme_session()
    error = refusal(mark, session, [mum, stranger], [other], {mum})
    assert error.code == "not_allowed"
    assert [d.message for d in error.details] == [str(stranger), str(other)]
    assert session.status == "scheduled"
