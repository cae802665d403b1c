"""Who does a duty: suitable, trained, available, free; fewest recent hours first."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.volunteers.domain import (
    PASSED_OVER,
    Candidate,
    Slot,
    TeamRules,
    available,
    check_named,
    pick,
)
from shared.kit.contracts.replies import CommandError

FAMILY = "family_volunteer_team"
COMMITTEE = "family_committee"
RULES = TeamRules({FAMILY: ("volunteer_induction",), COMMITTEE: ()})
STARTS = datetime(2026, 11, 3, 14, 30)
ENDS = STARTS + timedelta(minutes=90)
ALL_DAY_THAT_WEEKDAY = Slot(STARTS.weekday(), time(8), time(22))


def candidate(**overrides: Any) -> Candidate:
    fields: dict[str, Any] = {
        "volunteer_id": uuid4(),
        "teams": [FAMILY],
        "skills": set(),
        "completed": {"volunteer_induction"},
        "slots": [ALL_DAY_THAT_WEEKDAY],
        "unavailable": set(),
        "booked_overlapping": False,
        "recent_minutes": 0,
    }
    fields.update(overrides)
    return Candidate(**fields)


def choose(
    candidates: list[Candidate],
    *,
    needed: int = 1,
    teams: list[str] | None = None,
    skills: list[str] = (),  # type: ignore[assignment]
) -> tuple[list[UUID], dict[str, int]]:
    return pick(
        candidates,
        rules=RULES,
        teams=teams,
        skills=list(skills),
        starts=STARTS,
        ends=ENDS,
        needed=needed,
    )


def test_the_volunteer_with_the_fewest_recent_hours_is_picked_first():
    busy = candidate(recent_minutes=600)
    fresh = candidate(recent_minutes=30)
    chosen, reasons = choose([busy, fresh])
    assert chosen == [fresh.volunteer_id]
    assert reasons == {}, "a suitable volunteer left over for lack of places is not passed over"


def test_volunteers_with_equal_recent_hours_are_picked_in_a_stable_order():
    same = [candidate(recent_minutes=60) for _ in range(4)]
    chosen, _ = choose(same, needed=4)
    assert chosen == sorted((c.volunteer_id for c in same), key=str)
    assert choose(list(reversed(same)), needed=4)[0] == chosen


def test_no_more_volunteers_are_picked_than_places_needed():
    three = [candidate() for _ in range(3)]
    assert len(choose(three, needed=2)[0]) == 2
    assert choose(three, needed=0)[0] == []


def test_a_volunteer_outside_the_requested_teams_is_passed_over_as_not_in_team():
    committee = candidate(teams=[COMMITTEE])
    chosen, reasons = choose([committee], teams=[FAMILY])
    assert chosen == []
    assert reasons == {"not_in_team": 1}


def test_a_member_without_the_teams_courses_is_passed_over_as_not_trained():
    untrained = candidate(completed=set())
    assert choose([untrained]) == ([], {"not_trained": 1})
    assert choose([untrained], teams=[FAMILY]) == ([], {"not_trained": 1})


def test_without_named_teams_any_team_the_volunteer_is_active_in_serves():
    committee_only = candidate(teams=[FAMILY, COMMITTEE], completed=set())
    assert choose([committee_only])[0] == [committee_only.volunteer_id]
    assert choose([committee_only], teams=[FAMILY])[1] == {"not_trained": 1}


def test_a_volunteer_without_the_skills_is_passed_over_as_missing_skills():
    cook = candidate(skills={"cooking"})
    plain = candidate()
    chosen, reasons = choose([cook, plain], needed=2, skills=["cooking"])
    assert chosen == [cook.volunteer_id]
    assert reasons == {"missing_skills": 1}


def test_a_volunteer_without_a_slot_for_the_session_is_passed_over_as_not_available():
    no_slots = candidate(slots=[])
    away_that_day = candidate(unavailable={STARTS.date()})
    assert choose([no_slots, away_that_day], needed=2) == ([], {"not_available": 2})


def test_a_volunteer_booked_at_an_overlapping_time_is_passed_over_as_already_booked():
    booked = candidate(booked_overlapping=True)
    assert choose([booked]) == ([], {"already_booked": 1})


def test_each_passed_over_volunteer_counts_once_for_the_first_reason_that_fails():
    untrained_and_away = candidate(completed=set(), slots=[], booked_overlapping=True)
    unskilled_and_booked = candidate(booked_overlapping=True)
    _, reasons = choose([untrained_and_away, unskilled_and_booked], skills=["first_aid"])
    assert reasons == {"not_trained": 1, "missing_skills": 1}


def test_a_weekly_slot_that_covers_the_session_on_its_weekday_makes_a_volunteer_available():
    assert available([ALL_DAY_THAT_WEEKDAY], set(), STARTS, ENDS)


def test_a_slot_on_another_weekday_or_not_covering_the_session_does_not():
    other_day = Slot((STARTS.weekday() + 1) % 7, time(8), time(22))
    ends_too_early = Slot(STARTS.weekday(), time(8), (ENDS - timedelta(minutes=1)).time())
    starts_too_late = Slot(STARTS.weekday(), (STARTS + timedelta(minutes=1)).time(), time(22))
    for slot in (other_day, ends_too_early, starts_too_late):
        assert not available([slot], set(), STARTS, ENDS), slot


def test_a_date_marked_unavailable_wins_over_the_weekly_slot():
    assert not available([ALL_DAY_THAT_WEEKDAY], {STARTS.date()}, STARTS, ENDS)
    other_day: set[date] = {STARTS.date() + timedelta(days=7)}
    assert available([ALL_DAY_THAT_WEEKDAY], other_day, STARTS, ENDS)


def test_a_session_past_midnight_fits_no_weekly_slot():
    late = datetime.combine(STARTS.date(), time(23))
    whole_week = [Slot(d, time(0), time(23, 59)) for d in range(7)]
    assert not available(whole_week, set(), late, late + timedelta(hours=2))


def test_duties_assigned_but_not_yet_logged_count_towards_a_volunteers_share():
    already_on_next_week = candidate(assigned_minutes=90)
    free = candidate()
    assert choose([already_on_next_week, free])[0] == [free.volunteer_id]
    logged_less_but_assigned_more = candidate(recent_minutes=30, assigned_minutes=90)
    logged_more = candidate(recent_minutes=100)
    assert choose([logged_less_but_assigned_more, logged_more])[0] == [logged_more.volunteer_id]


def test_an_inactive_volunteer_is_never_picked():
    resting = candidate(active=False)
    assert choose([resting]) == ([], {"inactive": 1})


def test_a_named_volunteer_passes_the_same_checks_and_a_refusal_names_the_one_that_failed():
    fit = candidate()
    check_named(fit, rules=RULES, teams=None, skills=[], starts=STARTS, ends=ENDS)
    for unfit_one, reason in (
        (candidate(active=False), "inactive"),
        (candidate(completed=set()), "not_trained"),
        (candidate(slots=[]), "not_available"),
        (candidate(booked_overlapping=True), "already_booked"),
        (candidate(), "missing_skills"),
    ):
        with pytest.raises(CommandError) as refused:
            check_named(
                unfit_one,
                rules=RULES,
                teams=None,
                skills=["first_aid"] if reason == "missing_skills" else [],
                starts=STARTS,
                ends=ENDS,
            )
        assert refused.value.code == "not_allowed"
        assert [(d.field, d.message) for d in refused.value.details] == [("volunteer_id", reason)]
        assert refused.value.message == PASSED_OVER[reason]
