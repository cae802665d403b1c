"""A duty's life (proposed, confirmed or declined), the session it is for, peer matches and
recognition."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.volunteers.domain import (
    Assignment,
    KnownSession,
    Milestones,
    PeerMatch,
    TeamRules,
    Volunteer,
    session_for_duties,
    still_needed,
)
from shared.kit.contracts.replies import CommandError

STARTS = datetime(2026, 11, 3, 14, 30)
SESSION = KnownSession(uuid4(), "likang", STARTS, STARTS + timedelta(minutes=90))
PEER = "peer_supporters"
RULES = TeamRules({PEER: ("peer_support_foundation",)})
STARTED = date(2026, 10, 20)


def refusal(error: pytest.ExceptionInfo[CommandError]) -> tuple[str, dict[str, str]]:
    return error.value.code, {d.field: d.message for d in error.value.details}


def duty(status: str = "proposed") -> Assignment:
    a = Assignment.propose(uuid4(), SESSION, "helper")
    a.status = status
    return a


# --- the session whose duties are filled ----------------------------------------------------


def test_a_session_not_known_here_has_no_duties_to_fill():
    for unknown in (None, KnownSession(uuid4(), "other", STARTS, STARTS)):
        with pytest.raises(CommandError) as refused:
            session_for_duties(unknown, "likang")
        assert refusal(refused) == ("not_found", {"session_id": "unknown session"})


def test_a_cancelled_session_takes_no_duties():
    cancelled = KnownSession(uuid4(), "likang", STARTS, STARTS, cancelled=True)
    with pytest.raises(CommandError) as refused:
        session_for_duties(cancelled, "likang")
    assert refusal(refused) == ("not_allowed", {"session_id": "cancelled"})
    assert session_for_duties(SESSION, "likang") is SESSION


def test_standing_duties_count_against_the_places_asked_for():
    assert still_needed(3, 1) == 2
    assert still_needed(1, 1) == 0
    assert still_needed(1, 2) == 0, "never fewer than none"


# --- a duty ---------------------------------------------------------------------------------


def test_a_duty_is_proposed_for_the_sessions_site():
    volunteer_id = uuid4()
    a = Assignment.propose(volunteer_id, SESSION, "co_facilitator")
    assert (a.volunteer_id, a.session_id, a.site, a.role, a.status) == (
        volunteer_id,
        SESSION.session_id,
        SESSION.site,
        "co_facilitator",
        "proposed",
    )
    assert a.assignment_id != Assignment.propose(volunteer_id, SESSION, "helper").assignment_id


def test_a_proposed_duty_can_be_confirmed_once():
    a = duty()
    a.confirm()
    assert a.status == "confirmed"
    with pytest.raises(CommandError) as refused:
        a.confirm()
    assert refusal(refused) == ("conflict", {"assignment_id": "confirmed"})
    assert refused.value.message == "the assignment is confirmed"


@pytest.mark.parametrize("status", ["declined", "cancelled"])
def test_a_declined_or_cancelled_duty_cannot_be_confirmed(status):
    with pytest.raises(CommandError) as refused:
        duty(status).confirm()
    assert refusal(refused) == ("conflict", {"assignment_id": status})


@pytest.mark.parametrize("status", ["proposed", "confirmed"])
def test_a_proposed_or_confirmed_duty_can_be_declined(status):
    a = duty(status)
    a.decline()
    assert a.status == "declined"


@pytest.mark.parametrize("status", ["declined", "cancelled"])
def test_a_duty_no_longer_standing_cannot_be_declined(status):
    with pytest.raises(CommandError) as refused:
        duty(status).decline()
    assert refusal(refused) == ("conflict", {"assignment_id": status})
    assert refused.value.message == f"the assignment is {status}"


@pytest.mark.parametrize("status", ["proposed", "confirmed"])
def test_a_standing_duty_takes_its_own_volunteers_hours(status):
    a = duty(status)
    a.check_hours_by(a.volunteer_id)


def test_a_duty_takes_no_hours_from_another_volunteer():
    with pytest.raises(CommandError) as refused:
        duty().check_hours_by(uuid4())
    assert refusal(refused) == ("validation_error", {"assignment_id": "another volunteer's"})


@pytest.mark.parametrize("status", ["declined", "cancelled"])
def test_a_declined_or_cancelled_duty_takes_no_hours(status):
    a = duty(status)
    with pytest.raises(CommandError) as refused:
        a.check_hours_by(a.volunteer_id)
    assert refusal(refused) == ("not_allowed", {"assignment_id": status})


# --- peer matches ---------------------------------------------------------------------------


def peer(*, trained: bool = True, team: str = PEER) -> Volunteer:
    v = Volunteer.register(uuid4(), "likang", teams=[team], skills=[], languages=[], on=STARTED)
    if trained:
        v.complete("peer_support_foundation")
    return v


def start(
    supporter: Volunteer,
    person_id: UUID | None = None,
    *,
    known: bool = True,
    consent: bool = True,
    linked: bool = False,
    rules: TeamRules = RULES,
) -> PeerMatch:
    return PeerMatch.start(
        supporter,
        person_id or uuid4(),
        rules=rules,
        person_known=known,
        service_consent=consent,
        linked_as_carers=linked,
        site="likang",
        on=STARTED,
    )


def refused_start(supporter: Volunteer, person_id: UUID | None = None, **facts: bool):
    with pytest.raises(CommandError) as refused:
        start(supporter, person_id, **facts)
    return refusal(refused)


def test_a_trained_peer_and_a_consenting_person_start_an_open_match():
    supporter, person_id = peer(), uuid4()
    match = start(supporter, person_id)
    assert (match.peer_volunteer_id, match.person_id, match.site) == (
        supporter.volunteer_id,
        person_id,
        "likang",
    )
    assert (match.status, match.started_on, match.ended_on) == ("open", STARTED, None)


def test_a_peer_not_yet_trained_or_outside_the_peer_team_is_not_matched():
    expected = ("not_allowed", {"peer_volunteer_id": "not an active peer supporter"})
    assert refused_start(peer(trained=False)) == expected
    assert refused_start(peer(team="family_volunteer_team")) == expected


def test_the_peer_team_is_whichever_the_organisation_names():
    buddies = TeamRules({"buddies": ()}, peer_team="buddies")
    assert start(peer(team="buddies", trained=False), rules=buddies).status == "open"
    with pytest.raises(CommandError):
        start(peer(), rules=buddies)


def test_a_person_unknown_here_is_not_matched():
    assert refused_start(peer(), known=False) == ("not_found", {"person_id": "unknown person"})


def test_a_peer_is_never_matched_with_themselves():
    supporter = peer()
    assert refused_start(supporter, supporter.person_id) == ("not_allowed", {"person_id": "self"})


def test_a_peer_is_never_matched_with_their_carer_or_someone_they_care_for():
    assert refused_start(peer(), linked=True) == ("not_allowed", {"person_id": "family link"})


def test_a_person_without_service_consent_is_not_matched():
    assert refused_start(peer(), consent=False) == (
        "consent_required",
        {"person_id": "no service consent"},
    )


def test_the_peer_is_checked_before_the_person():
    untrained = peer(trained=False)
    code, fields = refused_start(untrained, untrained.person_id, consent=False, linked=True)
    assert (code, list(fields)) == ("not_allowed", ["peer_volunteer_id"])


def open_match() -> PeerMatch:
    return start(peer())


def test_contacts_are_logged_for_any_day_from_the_start_of_an_open_match():
    match = open_match()
    match.log_contact(STARTED)
    match.log_contact(STARTED + timedelta(days=400))


def test_a_contact_before_the_match_started_is_refused():
    with pytest.raises(CommandError) as refused:
        open_match().log_contact(STARTED - timedelta(days=1))
    assert refusal(refused) == ("validation_error", {"date": f"before {STARTED.isoformat()}"})


def test_after_the_match_ended_contacts_are_logged_up_to_its_last_day_only():
    match = open_match()
    last = STARTED + timedelta(days=30)
    match.end("goals_met", last)
    match.log_contact(last)
    with pytest.raises(CommandError) as refused:
        match.log_contact(last + timedelta(days=1))
    assert refusal(refused) == ("conflict", {"date": f"after {last.isoformat()}"})


def test_ending_a_match_records_when_and_why():
    match = open_match()
    match.end("user_request", STARTED)
    assert (match.status, match.ended_on, match.end_reason) == ("ended", STARTED, "user_request")


def test_a_match_ends_once():
    match = open_match()
    match.end("goals_met", STARTED)
    with pytest.raises(CommandError) as refused:
        match.end("other", STARTED)
    assert refusal(refused) == ("conflict", {"match_id": "ended"})
    assert match.end_reason == "goals_met"


def test_a_match_cannot_end_before_it_started():
    match = open_match()
    with pytest.raises(CommandError) as refused:
        match.end("other", STARTED - timedelta(days=1))
    assert refusal(refused) == ("validation_error", {"on": f"before {STARTED.isoformat()}"})
    assert match.status == "open"


# --- recognition ----------------------------------------------------------------------------


def test_recognition_lists_the_milestones_reached_and_the_next_one():
    milestones = Milestones.of([200, 50, 100, 50])
    assert milestones.reached(56.0) == [50]
    assert milestones.next_after(56.0) == 100
    assert milestones.reached(100.0) == [50, 100], "a milestone is reached on the hour"
    assert milestones.next_after(100.0) == 200


def test_beyond_the_last_milestone_there_is_no_next_one():
    milestones = Milestones.of([50, 100])
    assert milestones.reached(1.5) == []
    assert milestones.next_after(1.5) == 50
    assert milestones.reached(500.0) == [50, 100]
    assert milestones.next_after(500.0) is None
