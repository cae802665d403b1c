"""Periods (a month, a quarter, a year or an inclusive range) and when a month's summary is
published: from ``CARENET_PUBLISH_DAY`` of the next month (0: only on command), and on
command only once the month has closed."""

from __future__ import annotations

from datetime import date

import pytest

from services.reporting.domain import (
    Period,
    closed_month,
    due_month,
    month_period,
    parse_period,
    previous_month,
)
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.reporting import PeriodRange


def test_a_month_runs_from_its_first_to_its_last_day():
    assert parse_period("2026-10") == Period(date(2026, 10, 1), date(2026, 10, 31))
    assert parse_period("2028-02").end == date(2028, 2, 29)
    assert parse_period("2026-02").end == date(2026, 2, 28)


def test_a_quarter_is_three_months():
    q3 = parse_period("2026-Q3")
    assert (q3.start, q3.end) == (date(2026, 7, 1), date(2026, 9, 30))
    assert parse_period("2026-Q4").end == date(2026, 12, 31)


def test_a_year_is_every_day_of_it():
    year = parse_period("2026")
    assert (year.start, year.end, year.days) == (date(2026, 1, 1), date(2026, 12, 31), 365)


def test_a_range_includes_both_its_days():
    period = parse_period(PeriodRange.model_validate({"from": "2026-09-15", "to": "2026-10-15"}))
    assert (period.start, period.end) == (date(2026, 9, 15), date(2026, 10, 15))
    assert period.days == 31
    assert period.as_json() == {"from": "2026-09-15", "to": "2026-10-15"}


def test_last_month_of_january_is_december():
    assert previous_month(date(2027, 1, 15)) == month_period(date(2026, 12, 1))
    assert previous_month(date(2026, 11, 30)).month == "2026-10"


def test_last_month_is_due_from_the_publish_day_on():
    assert due_month(date(2026, 11, 4), publish_day=5) is None
    assert due_month(date(2026, 11, 5), publish_day=5) == parse_period("2026-10")
    assert due_month(date(2026, 11, 28), publish_day=5) == parse_period("2026-10")


def test_publish_day_zero_never_publishes_by_itself():
    assert due_month(date(2026, 11, 28), publish_day=0) is None


def test_a_closed_month_may_be_published_from_the_day_after_it_ends():
    assert closed_month("2026-10", date(2026, 11, 1)) == parse_period("2026-10")


@pytest.mark.parametrize("today", [date(2026, 10, 31), date(2026, 10, 1), date(2026, 9, 30)])
def test_a_month_not_yet_closed_is_refused(today):
    with pytest.raises(CommandError) as refused:
        closed_month("2026-10", today)
    assert refused.value.code == "not_allowed"
    assert [(d.field, d.message) for d in refused.value.details] == [("month", "not closed")]
