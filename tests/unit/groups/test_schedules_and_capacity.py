"""More schedule repeats, extending a programme, and changing its capacity: the rules alone."""

from __future__ import annotations

from datetime import date, time
from typing import Any
from uuid import uuid4

import pytest

from services.groups.domain import Enrolment, Programme, session_dates
from shared.kit.contracts.groups import Repeat, Schedule
from shared.kit.contracts.replies import CommandError

SECOND_TUESDAY = date(2026, 11, 10)


def schedule(repeat: Repeat, count: int, first: date = SECOND_TUESDAY) -> Schedule:
    return Schedule(
        first_date=first, start_time=time(14, 30), duration_min=90, repeat=repeat, count=count
    )


def group(capacity: int = 2, **kw: Any) -> Programme:
    return Programme(uuid4(), "likang", "support_group", capacity, **kw)


def waiting(programme: Programme, n: int) -> list[Enrolment]:
    return [
        Enrolment(uuid4(), programme.programme_id, uuid4(), "likang", "waitlisted")
        for _ in range(n)
    ]


def refusal(call: Any, *args: object) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call(*args)
    return caught.value


def test_a_fortnightly_schedule_meets_every_other_week():
    assert session_dates(schedule("fortnightly", 3)) == [
        date(2026, 11, 10),
        date(2026, 11, 24),
        date(2026, 12, 8),
    ]


def test_a_monthly_schedule_meets_on_the_same_week_and_weekday_into_the_next_year():
    assert session_dates(schedule("monthly_by_weekday", 4)) == [
        date(2026, 11, 10),  # the second Tuesday of each month
        date(2026, 12, 8),
        date(2027, 1, 12),
        date(2027, 2, 9),
    ]


def test_a_monthly_schedule_from_a_fifth_week_meets_on_that_weekday_last_in_each_month():
    last_thursday = date(2026, 10, 29)
    assert session_dates(schedule("monthly_by_weekday", 3, last_thursday)) == [
        last_thursday,
        date(2026, 11, 26),
        date(2026, 12, 31),
    ]


def test_extending_continues_the_schedule_after_the_sessions_it_made():
    weekly = group(schedule=schedule("weekly", 2))
    assert weekly.extend(2) == [date(2026, 11, 24), date(2026, 12, 1)]
    assert weekly.schedule is not None and weekly.schedule.count == 4
    monthly = group(schedule=schedule("monthly_by_weekday", 2))
    assert monthly.extend(1) == [date(2027, 1, 12)]


@pytest.mark.parametrize(
    ("kept", "why"), [(None, "no schedule"), (schedule("once", 1), "meets once")]
)
def test_a_programme_without_a_repeating_schedule_is_not_extended(kept, why):
    error = refusal(group(schedule=kept).extend, 1)
    assert (error.code, [d.message for d in error.details]) == ("not_allowed", [why])


def test_a_schedule_is_extended_to_at_most_366_sessions():
    error = refusal(group(schedule=schedule("daily", 360)).extend, 7)
    assert (error.code, [d.message for d in error.details]) == (
        "validation_error",
        ["at most 6 more"],
    )


def test_a_raise_promotes_the_waitlist_in_order_up_to_the_new_capacity():
    full = group(capacity=2, places_taken=2)
    queue = waiting(full, 3)
    assert full.change_capacity(4, len(queue)) == 2
    assert full.fill_free_places(queue) == queue[:2]
    assert [e.status for e in queue] == ["enrolled", "enrolled", "waitlisted"]
    assert full.places_taken == 4


def test_a_cut_below_the_people_enrolled_keeps_them_and_makes_newcomers_wait():
    full = group(capacity=3, places_taken=3)
    full.change_capacity(1, 0)
    assert full.fill_free_places(waiting(full, 1)) == []
    assert full.enrol(uuid4(), uuid4(), ["family_carer"], False).status == "waitlisted"
    full.places_taken = 1  # two withdrew: the place left is still taken
    assert full.fill_freed_place(waiting(full, 1)[0]) is None


def test_capacity_0_needs_nobody_enrolled_or_waiting():
    error = refusal(group(capacity=2, places_taken=0).change_capacity, 0, 1)
    assert (error.code, [d.message for d in error.details]) == (
        "conflict",
        ["0 enrolled, 1 waiting"],
    )
    talk = group(capacity=5)
    assert talk.change_capacity(0, 0) == 5 and talk.capacity == 0
