"""A volunteer's teams and courses, team rules from configuration, and where hours go."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import uuid4

import pytest

from services.volunteers.domain import (
    PEER_TEAM_DEFAULT,
    HoursEntry,
    KnownSession,
    TeamRules,
    Volunteer,
    in_hours,
    is_service_user,
    minutes_given,
)
from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.contracts.replies import CommandError

FAMILY = "family_volunteer_team"
COMMITTEE = "family_committee"
PEER = "peer_supporters"
RULES = TeamRules(
    {FAMILY: ("volunteer_induction",), PEER: ("peer_support_foundation",), COMMITTEE: ()}
)
ON = date(2026, 11, 2)


def volunteer(teams: list[str], courses: frozenset[str] = frozenset()) -> Volunteer:
    v = Volunteer.register(uuid4(), "likang", teams=teams, skills=[], languages=[], on=ON)
    for course in courses:
        v.complete(course)
    return v


def refusal(error: pytest.ExceptionInfo[CommandError]) -> tuple[str, dict[str, str]]:
    return error.value.code, {d.field: d.message for d in error.value.details}


def test_registering_keeps_each_team_and_language_once_in_the_order_given():
    v = Volunteer.register(
        uuid4(),
        "likang",
        teams=[FAMILY, COMMITTEE, FAMILY],
        skills=["first_aid", "cooking", "first_aid"],
        languages=["yue", "cmn", "yue"],
        on=ON,
    )
    assert v.teams == [FAMILY, COMMITTEE]
    assert v.languages == ["yue", "cmn"]
    assert v.skills == sorted({"first_aid", "cooking"})
    assert (v.site, v.registered_on, v.courses) == ("likang", ON, set())


def test_a_volunteer_who_also_uses_services_is_a_service_user():
    assert is_service_user(["family_carer", "volunteer"])
    assert is_service_user(["person_in_recovery"])
    assert not is_service_user(["volunteer"])


def test_joining_another_team_adds_it_after_the_others():
    v = volunteer([PEER])
    v.join(COMMITTEE)
    assert v.teams == [PEER, COMMITTEE]


def test_joining_a_team_twice_is_a_conflict():
    v = volunteer([FAMILY])
    with pytest.raises(CommandError) as refused:
        v.join(FAMILY)
    assert refusal(refused) == ("conflict", {"team": "already a member"})
    assert v.teams == [FAMILY]


def test_a_volunteer_is_active_in_a_team_only_after_every_course_it_requires():
    rules = TeamRules({FAMILY: ("volunteer_induction", "safeguarding")})
    v = volunteer([FAMILY])
    v.complete("volunteer_induction")
    assert v.active_teams(rules) == []
    assert rules.missing_courses(FAMILY, v.courses) == ["safeguarding"]
    v.complete("safeguarding")
    assert v.active_teams(rules) == [FAMILY]
    assert rules.missing_courses(FAMILY, v.courses) == []


def test_a_team_that_requires_no_course_is_active_at_once():
    assert volunteer([COMMITTEE, FAMILY]).active_teams(RULES) == [COMMITTEE]


def test_only_the_peer_team_active_makes_a_peer_supporter():
    assert not volunteer([PEER]).is_peer_supporter(RULES)
    assert volunteer([PEER], {"peer_support_foundation"}).is_peer_supporter(RULES)
    assert not volunteer([FAMILY], {"volunteer_induction"}).is_peer_supporter(RULES)


def test_team_requirements_and_the_peer_team_come_from_the_organisation_file():
    teams = {"buddies": {"requires": ["buddy_course"]}, COMMITTEE: {}}
    rules = TeamRules.from_organisation({"teams": teams, "peer_team": "buddies"})
    assert rules.requires == {"buddies": ("buddy_course",), COMMITTEE: ()}
    assert rules.peer_team == "buddies"
    assert TeamRules.from_organisation(None).peer_team == PEER_TEAM_DEFAULT


@pytest.mark.parametrize(
    "extra",
    [{"teams": ["peer_supporters"]}, {"teams": {PEER: {"requires": "peer_support_foundation"}}}],
)
def test_a_malformed_teams_table_is_refused(extra):
    with pytest.raises(ValueError, match="teams"):
        TeamRules.from_organisation(extra)


def test_hours_go_to_the_first_team_unless_another_of_theirs_is_named():
    v = volunteer([FAMILY, COMMITTEE])
    assert v.team_for_hours(None) == FAMILY
    assert v.team_for_hours(COMMITTEE) == COMMITTEE


def test_hours_for_a_team_the_volunteer_is_not_in_are_refused():
    with pytest.raises(CommandError) as refused:
        volunteer([FAMILY]).team_for_hours(PEER)
    assert refusal(refused) == ("validation_error", {"team": "not a member"})


def test_a_duty_without_minutes_logs_its_sessions_length():
    starts = datetime(2026, 11, 3, 14, 30)
    session = KnownSession(uuid4(), "likang", starts, starts + timedelta(minutes=90))
    assert minutes_given(None, session) == 90
    assert minutes_given(45, session) == 45, "minutes told win over the session's length"
    assert session.day == starts.date()


def test_hours_without_a_duty_need_minutes():
    assert minutes_given(30, None) == 30
    with pytest.raises(CommandError) as refused:
        minutes_given(None, None)
    assert refusal(refused) == ("validation_error", {"minutes": "required"})


def test_hours_are_shown_to_one_decimal():
    assert in_hours(90) == 1.5
    assert in_hours(100) == 1.7, "an hour and two thirds"
    assert in_hours(0) == 0


def test_a_volunteer_marked_inactive_and_active_again_refuses_the_same_mark_twice():
    v = volunteer([FAMILY])
    assert v.active
    v.mark_active(False)
    assert not v.active
    with pytest.raises(CommandError) as twice:
        v.mark_active(False)
    assert twice.value.code == "conflict"
    v.mark_active(True)
    assert v.active


def test_a_sites_volunteers_serve_it_and_the_sites_below_it():
    organisation = load_organisation(DEMO_ORGANISATION)
    assert organisation.with_ancestors("nanyuan") == ["nanyuan", "likang", "hq"]
    assert organisation.with_ancestors("hq") == ["hq"]
    for code in organisation.codes():
        for above in organisation.with_ancestors(code):
            assert code in organisation.with_descendants(above)


def test_an_entry_is_voided_once_with_its_reason():
    entry = HoursEntry(
        void_reason=None,
        hours_id=uuid4(),
        volunteer_id=uuid4(),
        site="likang",
        team=FAMILY,
        minutes=90,
        date=ON,
        assignment_id=None,
    )
    entry.void("wrong_volunteer", "hours_id")
    assert entry.void_reason == "wrong_volunteer"
    with pytest.raises(CommandError) as twice:
        entry.void("duplicate", "hours_id")
    assert twice.value.code == "conflict" and entry.void_reason == "wrong_volunteer"
