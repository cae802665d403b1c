"""Consent per purpose: what needs ``data_sharing``, and what withdrawing a consent ends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from services.intake.domain import (
    Case,
    ConsentState,
    ConsentWithdrawal,
    require_consent_to_share,
)
from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.contracts.intake import CloseCase
from shared.kit.contracts.replies import CommandError

AGENCY = load_organisation(DEMO_ORGANISATION)
OPENED = date(2026, 9, 1)


@pytest.mark.parametrize(
    ("home", "at", "beyond"),
    [
        ("likang", "likang", False),
        ("likang", "jinsha", False),  # a site below: the centre's own street programme
        ("hq", "clubhouse", False),
        ("jinsha", "likang", True),  # up to the parent
        ("jinsha", "nanyuan", True),  # a sibling
        ("likang", "icmhc", True),  # another branch
        ("clubhouse", "hq", True),
    ],
)
def test_a_site_shares_beyond_itself_except_with_the_sites_below_it(
    home: str, at: str, beyond: bool
) -> None:
    assert AGENCY.shares_beyond(home, at) is beyond


def test_a_site_not_in_the_file_is_always_beyond() -> None:
    assert AGENCY.shares_beyond("elsewhere", "likang")


def test_sharing_beyond_the_site_needs_data_sharing_consent() -> None:
    with pytest.raises(CommandError) as refused:
        require_consent_to_share(ConsentState({"service": True}), beyond_site=True, field="to_site")
    assert refused.value.code == "consent_required"
    assert {d.field: d.message for d in refused.value.details} == {
        "to_site": "no data_sharing consent"
    }
    require_consent_to_share(ConsentState({"data_sharing": True}), beyond_site=True, field="x")
    require_consent_to_share(ConsentState(), beyond_site=False, field="x")


def test_the_latest_consent_record_of_each_purpose_wins_whatever_the_order_sent() -> None:
    early, late = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 2, tzinfo=UTC)
    state = ConsentState.latest(
        [("data_sharing", False, late), ("data_sharing", True, early), ("service", True, early)]
    )
    assert not state.allows("data_sharing")
    assert state.allows("service")
    assert not state.allows("outcome_data")


def test_withdrawing_service_closes_cases_and_cancels_transfers_giving_ends_nothing() -> None:
    assert ConsentWithdrawal.of("service", False) == ConsentWithdrawal(True, True)
    assert ConsentWithdrawal.of("data_sharing", False) == ConsentWithdrawal(False, True)
    assert ConsentWithdrawal.of("outcome_data", False) == ConsentWithdrawal(False, False)
    assert ConsentWithdrawal.of("service", True) == ConsentWithdrawal(False, False)


def test_a_case_closed_for_withdrawn_consent_closes_no_earlier_than_it_opened() -> None:
    case = Case.open(uuid4(), "likang", "sw-lee", OPENED, had_case_here=False)
    assert case.close_for_withdrawn_consent(date(2026, 8, 30))
    assert (case.status, case.closed_on, case.close_reason) == (
        "closed",
        OPENED,
        "consent_withdrawn",
    )
    assert not case.close_for_withdrawn_consent(date(2026, 9, 3))


def test_a_cancelled_handoff_leaves_the_case_open_again_and_cannot_be_answered() -> None:
    case = Case.open(uuid4(), "likang", "sw-lee", OPENED, had_case_here=False)
    handoff = case.start_transfer("icmhc", OPENED)
    handoff.cancel("data_sharing")
    case.transfer_refused()
    assert (handoff.status, case.status) == ("cancelled", "open")
    assert handoff.last_error == "cancelled: data_sharing consent withdrawn"
    with pytest.raises(CommandError) as late:
        handoff.completed(uuid4())
    assert late.value.code == "conflict"


def test_staff_cannot_close_a_case_as_consent_withdrawn_only_the_withdrawal_does():
    ids = {"command_id": uuid4(), "case_id": uuid4()}
    with pytest.raises(ValidationError, match="recording the withdrawal"):
        CloseCase(**ids, reason="consent_withdrawn")
    assert CloseCase(**ids, reason="moved_away").reason == "moved_away"
