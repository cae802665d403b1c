"""Intake's rules for referrals and cases: deciding, opening, closing, transferring, contacts."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.intake.domain import Case, Referral, retry_delay
from shared.kit.contracts.replies import CommandError

OPENED = date(2026, 9, 1)


def details(error: pytest.ExceptionInfo[CommandError]) -> dict[str, str]:
    return {d.field: d.message for d in error.value.details}


def open_case(site: str = "likang", worker_id: str = "sw-lee") -> Case:
    return Case.open(uuid4(), site, worker_id, OPENED, had_case_here=False)


def test_a_received_referral_takes_the_decision_as_its_status() -> None:
    referral = Referral(uuid4(), "received", OPENED)
    referral.decide("waitlisted", OPENED)
    assert referral.status == "waitlisted"


def test_a_referral_is_decided_only_once() -> None:
    referral = Referral(uuid4(), "received", OPENED)
    referral.decide("accepted", OPENED)
    with pytest.raises(CommandError) as refused:
        referral.decide("declined", OPENED + timedelta(days=1))
    assert refused.value.code == "conflict"
    assert details(refused) == {"referral_id": "already accepted"}
    assert referral.status == "accepted"


def test_a_referral_cannot_be_decided_before_it_was_received() -> None:
    referral = Referral(uuid4(), "received", OPENED)
    with pytest.raises(CommandError) as refused:
        referral.decide("accepted", OPENED - timedelta(days=1))
    assert refused.value.code == "validation_error"
    assert details(refused) == {"on": f"before {OPENED.isoformat()}"}
    assert referral.status == "received"


def test_a_first_case_at_a_site_is_new() -> None:
    case = Case.open(uuid4(), "likang", "sw-lee", OPENED, had_case_here=False)
    assert (case.kind, case.status, case.worker_id) == ("new", "open", "sw-lee")


def test_a_person_who_had_a_case_at_the_site_before_is_reactivated() -> None:
    assert Case.open(uuid4(), "likang", "sw-lee", OPENED, had_case_here=True).kind == "reactivated"


def test_closing_a_case_records_when_and_why() -> None:
    case = open_case()
    closed_on = OPENED + timedelta(days=30)
    case.close("goals_achieved", closed_on)
    assert (case.status, case.closed_on, case.close_reason) == (
        "closed",
        closed_on,
        "goals_achieved",
    )


def test_a_closed_case_cannot_be_closed_again() -> None:
    case = open_case()
    case.close("moved_away", OPENED)
    with pytest.raises(CommandError) as refused:
        case.close("other", OPENED)
    assert refused.value.code == "conflict"
    assert details(refused) == {"case_id": "case is closed"}


def test_a_case_cannot_be_closed_before_it_was_opened() -> None:
    case = open_case()
    with pytest.raises(CommandError) as refused:
        case.close("other", OPENED - timedelta(days=1))
    assert refused.value.code == "validation_error"
    assert case.status == "open"


def transferred(case: Case, to_site: str, on: date) -> Case:
    """The case after the receiving site answered ok; returns the case opened there."""
    handoff = case.start_transfer(to_site, on)
    receiving = Case.transferred_in(case.person_id, to_site, handoff.worker_id, on, handoff.case_id)
    case.transfer_completed(handoff, receiving.case_id)
    handoff.completed(receiving.case_id)
    return receiving


def test_a_transfer_waits_for_the_receiving_site_with_the_case_transferring() -> None:
    case = open_case(site="likang")
    on = OPENED + timedelta(days=10)
    handoff = case.start_transfer("clubhouse", on)
    assert case.status == "transferring"
    assert (case.closed_on, case.transferred_to_case_id) == (None, None)
    assert (handoff.case_id, handoff.person_id, handoff.from_site, handoff.to_site) == (
        case.case_id,
        case.person_id,
        "likang",
        "clubhouse",
    )
    assert (handoff.status, handoff.attempts, handoff.transferred_on) == ("pending", 0, on)


def test_while_a_transfer_is_under_way_contacts_are_logged_but_no_closing_or_second_transfer():
    case = open_case()
    case.start_transfer("clubhouse", OPENED + timedelta(days=5))
    case.log_contact(OPENED + timedelta(days=6))
    with pytest.raises(CommandError) as closing:
        case.close("other", OPENED + timedelta(days=6))
    with pytest.raises(CommandError) as again:
        case.start_transfer("nanyuan", OPENED + timedelta(days=6))
    for refused in (closing, again):
        assert refused.value.code == "conflict"
        assert details(refused) == {"case_id": "transfer under way"}
    assert case.status == "transferring"


def test_a_completed_transfer_ends_the_case_here_on_the_transfer_date() -> None:
    case = open_case(site="likang")
    on = OPENED + timedelta(days=10)
    receiving = transferred(case, "clubhouse", on)
    assert (case.status, case.closed_on, case.close_reason) == ("transferred", on, "transferred")
    assert case.transferred_to_case_id == receiving.case_id
    assert (receiving.site, receiving.person_id, receiving.status, receiving.kind) == (
        "clubhouse",
        case.person_id,
        "open",
        "transferred_in",
    )
    assert (receiving.opened_on, receiving.transferred_from_case_id) == (on, case.case_id)
    assert receiving.case_id != case.case_id


def test_a_refused_transfer_leaves_the_case_open_here_and_the_handoff_refused() -> None:
    case = open_case()
    handoff = case.start_transfer("clubhouse", OPENED)
    assert handoff.answered("conflict", "the person already has an open case there") is True
    case.transfer_refused()
    assert (case.status, case.closed_on, case.close_reason) == ("open", None, None)
    assert (handoff.status, handoff.attempts) == ("refused", 1)
    assert handoff.last_error == "conflict: the person already has an open case there"
    case.close("other", OPENED)  # open again: it can be closed (or transferred) as usual


@pytest.mark.parametrize("code", ["unavailable", "internal"])
def test_an_unanswered_handoff_stays_pending_and_counts_the_attempt(code: str) -> None:
    case = open_case()
    handoff = case.start_transfer("clubhouse", OPENED)
    assert handoff.answered(code, "no intake answered") is False
    assert handoff.answered(code, "no intake answered") is False
    assert (handoff.status, handoff.attempts, case.status) == ("pending", 2, "transferring")


@pytest.mark.parametrize(
    "code", ["conflict", "not_found", "forbidden", "unauthenticated", "validation_error"]
)
def test_a_definite_answer_refuses_the_handoff(code: str) -> None:
    handoff = open_case().start_transfer("clubhouse", OPENED)
    assert handoff.answered(code, "no") is True
    assert handoff.status == "refused"


def test_an_answered_handoff_takes_no_second_answer() -> None:
    handoff = open_case().start_transfer("clubhouse", OPENED)
    handoff.completed(uuid4())
    with pytest.raises(CommandError) as refused:
        handoff.answered("unavailable", "late")
    assert refused.value.code == "conflict"


def test_resends_wait_longer_each_time_up_to_the_longest() -> None:
    assert [retry_delay(n, 0.5, 15) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 15, 15]


def test_a_transferred_case_keeps_its_worker_unless_the_transfer_names_one() -> None:
    assert open_case(worker_id="sw-lee").start_transfer("clubhouse", OPENED).worker_id == "sw-lee"
    named = open_case(worker_id="sw-lee").start_transfer("clubhouse", OPENED, "sw-ho")
    assert named.worker_id == "sw-ho"


def test_a_case_cannot_be_transferred_to_its_own_site() -> None:
    case = open_case(site="likang")
    with pytest.raises(CommandError) as refused:
        case.start_transfer("likang", OPENED)
    assert refused.value.code == "validation_error"
    assert details(refused) == {"to_site": "same site"}
    assert case.status == "open"


def test_only_an_open_case_can_be_transferred() -> None:
    case = open_case()
    case.close("no_contact", OPENED)
    with pytest.raises(CommandError) as refused:
        case.start_transfer("clubhouse", OPENED)
    assert refused.value.code == "conflict"
    assert case.status == "closed"


def test_contacts_may_be_logged_late_for_any_day_the_case_was_open() -> None:
    case = open_case()
    closed_on = OPENED + timedelta(days=20)
    case.close("goals_achieved", closed_on)
    case.log_contact(OPENED)
    case.log_contact(closed_on)


def test_a_contact_after_the_case_ended_is_refused() -> None:
    case = open_case()
    closed_on = OPENED + timedelta(days=20)
    transferred(case, "clubhouse", closed_on)
    with pytest.raises(CommandError) as refused:
        case.log_contact(closed_on + timedelta(days=1))
    assert refused.value.code == "conflict"
    assert refused.value.message == f"the case was transferred on {closed_on.isoformat()}"
    assert details(refused) == {"on": f"after {closed_on.isoformat()}"}


def test_a_contact_before_the_case_was_opened_is_refused() -> None:
    with pytest.raises(CommandError) as refused:
        open_case().log_contact(OPENED - timedelta(days=1))
    assert refused.value.code == "validation_error"
    assert details(refused) == {"on": f"before {OPENED.isoformat()}"}
