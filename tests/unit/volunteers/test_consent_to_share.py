"""Volunteers' consent rules without servers: a person or volunteer of another site is matched
or picked here only with their data_sharing consent; a withdrawn service consent ends a match."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.volunteers.domain import PeerMatch, check_named
from shared.kit.contracts.replies import CommandError
from tests.unit.volunteers.test_duties_and_matches import RULES, STARTED, peer
from tests.unit.volunteers.test_duty_pick import ENDS, STARTS, candidate, choose
from tests.unit.volunteers.test_duty_pick import RULES as DUTY_RULES


def start(*, person_may_share: bool, peer_may_share: bool) -> PeerMatch:
    return PeerMatch.start(
        peer(),
        uuid4(),
        rules=RULES,
        person_known=True,
        service_consent=True,
        linked_as_carers=False,
        site="likang",
        on=STARTED,
        person_may_share=person_may_share,
        peer_may_share=peer_may_share,
    )


def test_a_match_naming_someone_of_another_site_without_consent_is_refused_naming_who():
    with pytest.raises(CommandError) as refused:
        start(person_may_share=False, peer_may_share=False)
    assert refused.value.code == "consent_required"
    assert {d.field: d.message for d in refused.value.details} == {
        "person_id": "no data_sharing consent",
        "peer_volunteer_id": "no data_sharing consent",
    }
    assert start(person_may_share=True, peer_may_share=True).status == "open"


def test_a_withdrawn_service_consent_ends_an_open_match_once_never_before_it_started():
    match = start(person_may_share=True, peer_may_share=True)
    assert match.end_for_withdrawn_consent(STARTED - timedelta(days=3))
    assert (match.status, match.ended_on, match.end_reason) == (
        "ended",
        STARTED,
        "consent_withdrawn",
    )
    assert not match.end_for_withdrawn_consent(date(2026, 12, 1))


def test_the_duty_pick_passes_over_a_volunteer_of_another_site_without_consent():
    sharing, not_sharing = candidate(), candidate(may_share=False)
    chosen, passed_over = choose([not_sharing, sharing], needed=2)
    assert chosen == [sharing.volunteer_id]
    assert passed_over == {"no_consent_to_share": 1}


def test_a_coordinators_choice_of_a_volunteer_of_another_site_needs_their_consent():
    with pytest.raises(CommandError) as refused:
        check_named(
            candidate(may_share=False),
            rules=DUTY_RULES,
            teams=None,
            skills=[],
            starts=STARTS,
            ends=ENDS,
        )
    assert refused.value.code == "consent_required"
    assert [d.message for d in refused.value.details] == ["no_consent_to_share"]
