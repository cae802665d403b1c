"""Groups' enrolment rules without servers: eligibility, places and the waitlist, withdrawal,
what an ended case does, and completion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.groups.app import completion_share
from services.groups.domain import Enrolment, Programme, completed, ended_with_case
from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.config import ConfigError, load_settings
from shared.kit.contracts.replies import CommandError
from tests.identity import JWKS

DAY = date(2026, 11, 3)


def programme(capacity: int = 12, **kw: Any) -> Programme:
    return Programme(uuid4(), "likang", "support_group", capacity, **kw)


def enrol(p: Programme, roles: list[str] | None = None, case_here: bool = False) -> Enrolment:
    return p.enrol(uuid4(), uuid4(), ["family_carer"] if roles is None else roles, case_here)


def refusal(call: Callable[..., object], *args: object) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call(*args)
    return caught.value


# --- eligibility -----------------------------------------------------------------------------


def test_a_person_groups_has_not_heard_of_from_intake_cannot_enrol():
    error = refusal(programme().enrol, uuid4(), uuid4(), None, True)
    assert (error.code, [d.field for d in error.details]) == ("not_found", ["person_id"])


def test_a_programme_with_capacity_0_takes_walk_ins_only():
    error = refusal(enrol, programme(capacity=0))
    assert (error.code, [d.field for d in error.details]) == ("not_allowed", ["programme_id"])


def test_a_programme_needing_a_case_refuses_someone_without_an_open_case_at_its_site():
    training = programme(requires_case=True, target_roles=("person_in_recovery",))
    error = refusal(enrol, training, ["person_in_recovery"], False)
    assert error.code == "not_allowed"
    assert error.message == "this programme needs an open case at this site"


def test_a_programme_needing_a_case_takes_only_its_target_roles():
    training = programme(requires_case=True, target_roles=("person_in_recovery",))
    error = refusal(enrol, training, ["family_carer"], True)
    assert error.code == "not_allowed"
    assert "person_in_recovery" in error.message
    assert enrol(training, ["person_in_recovery", "family_carer"], True).status == "enrolled"


def test_a_programme_needing_a_case_without_target_roles_takes_anyone_with_a_case_here():
    assert enrol(programme(requires_case=True), [], True).status == "enrolled"


def test_a_programme_not_needing_a_case_takes_anyone_known_whatever_their_roles():
    open_to_all = programme(target_roles=("person_in_recovery",))
    assert enrol(open_to_all, [], False).status == "enrolled"


# --- places and the waitlist -----------------------------------------------------------------


def test_a_full_programme_puts_the_next_people_on_the_waitlist_in_order():
    group = programme(capacity=2)
    statuses = [enrol(group).status for _ in range(4)]
    assert statuses == ["enrolled", "enrolled", "waitlisted", "waitlisted"]
    assert group.places_taken == 2


def test_places_already_taken_count_against_the_capacity():
    assert enrol(programme(capacity=3, places_taken=3)).status == "waitlisted"
    assert enrol(programme(capacity=3, places_taken=2)).status == "enrolled"


def test_withdrawing_someone_enrolled_frees_a_place_for_the_first_one_waiting():
    group = programme(capacity=1)
    leaving, first, second = enrol(group), enrol(group), enrol(group)
    withdrawal = leaving.withdraw()
    assert (withdrawal.was, withdrawal.frees_a_place, leaving.status) == (
        "enrolled",
        True,
        "withdrawn",
    )
    reloaded = replace(group, places_taken=0)  # as counted again after the withdrawal
    assert reloaded.fill_freed_place(first) is first
    assert (first.status, second.status, reloaded.places_taken) == ("enrolled", "waitlisted", 1)


def test_withdrawing_someone_waiting_frees_no_place():
    group = programme(capacity=1)
    enrol(group)
    waiting = enrol(group)
    assert waiting.withdraw().frees_a_place is False


def test_a_freed_place_goes_to_nobody_when_nobody_waits_or_the_programme_is_still_full():
    group = programme(capacity=1)
    assert group.fill_freed_place(None) is None
    enrol(group)
    waiting = enrol(group)
    assert group.fill_freed_place(waiting) is None
    assert waiting.status == "waitlisted"


def test_an_enrolment_is_withdrawn_only_once():
    enrolment = enrol(programme())
    enrolment.withdraw()
    error = refusal(enrolment.withdraw)
    assert (error.code, [d.field for d in error.details]) == ("conflict", ["enrollment_id"])


# --- a case closed or transferred in intake --------------------------------------------------


def with_last_session(group: Programme, last: date | None) -> tuple[Enrolment, date | None]:
    return enrol(group), last


def test_closing_a_case_withdraws_enrolments_in_programmes_still_meeting():
    group = programme()
    meeting = with_last_session(group, DAY + timedelta(weeks=3))
    meeting_that_day = with_last_session(group, DAY)
    finished = with_last_session(group, DAY - timedelta(days=1))
    nothing_scheduled = with_last_session(group, None)
    ended = ended_with_case(
        [meeting, meeting_that_day, finished, nothing_scheduled], DAY, another_case_here=False
    )
    assert ended == [meeting[0], meeting_that_day[0]]


def test_a_person_with_another_open_case_at_the_site_keeps_their_enrolments():
    active = [with_last_session(programme(), DAY + timedelta(weeks=1))]
    assert ended_with_case(active, DAY, another_case_here=True) == []


def test_a_case_transferred_away_ends_enrolments_like_a_closed_one_including_the_waitlist():
    group = programme(capacity=1)
    enrolled = with_last_session(group, DAY + timedelta(weeks=1))
    waiting = with_last_session(group, DAY + timedelta(weeks=1))
    ended = ended_with_case([enrolled, waiting], DAY, another_case_here=False)
    assert [e.status for e in ended] == ["enrolled", "waitlisted"]
    assert [e.withdraw().frees_a_place for e in ended] == [True, False]


# --- completion ------------------------------------------------------------------------------


def test_completed_means_present_at_least_the_required_share_of_held_sessions():
    assert completed(6, 8, 0.75)
    assert not completed(5, 8, 0.75)
    assert completed(8, 8, 1.0)


def test_nobody_has_completed_a_programme_that_has_held_no_session():
    assert not completed(0, 0, 0.5)


def share_setting(value: str | None) -> float:
    env = {
        "NATS_URL": "nats://127.0.0.1:4222",
        "DATABASE_URL": "postgresql://carenet@127.0.0.1:5432/carenet",
        "CARENET_CONFIG": str(DEMO_ORGANISATION),
        "CARENET_JWKS": str(JWKS),
    }
    if value is not None:
        env["CARENET_COMPLETION_SHARE"] = value
    return completion_share(load_settings("groups", env))


def test_the_completion_share_is_three_quarters_unless_set():
    assert share_setting(None) == 0.75
    assert share_setting("1") == 1.0
    assert share_setting("0.5") == 0.5


@pytest.mark.parametrize("value", ["0", "1.5", "-0.1", "most"])
def test_a_completion_share_outside_0_exclusive_to_1_is_refused_in_one_line(value: str):
    with pytest.raises(ConfigError) as caught:
        share_setting(value)
    assert "CARENET_COMPLETION_SHARE" in str(caught.value)
    assert "\n" not in str(caught.value)
