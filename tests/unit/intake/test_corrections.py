"""Intake's rules for corrections: a person's record, a waitlisted referral decided again, a
case given to another worker, contacts and assessments voided."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.intake.domain import (
    Assessment,
    Case,
    Contact,
    PersonRecord,
    Referral,
)
from shared.kit.contracts.replies import CommandError

DAY = date(2026, 11, 2)


def details(error: pytest.ExceptionInfo[CommandError]) -> dict[str, str]:
    return {d.field: d.message for d in error.value.details}


def record(**values: object) -> PersonRecord:
    stored = {
        "preferred_name": "Ah Ming",
        "legal_name": None,
        "sex": "male",
        "birth_year": 1990,
        "phone": "+852 6000 1111",
        "language": None,
        "address": None,
    }
    return PersonRecord(uuid4(), "likang", ("person_in_recovery",), 0, {**stored, **values})


def test_a_phone_fixed_changes_only_the_phone_and_tells_no_other_service() -> None:
    correction = record().correct({"phone": "+852 6000 1112", "sex": "male"}, DAY)
    assert correction.values == {"phone": "+852 6000 1112"}
    assert correction.fields == ["phone"]
    assert not correction.announced


def test_a_role_added_is_announced_with_every_role_and_nothing_else() -> None:
    correction = record().correct({"roles": ["person_in_recovery", "family_carer"]}, DAY)
    assert correction.roles == ("person_in_recovery", "family_carer")
    assert (correction.age_band, correction.sex) == (None, None)
    assert correction.announced


def test_a_birth_year_fixed_announces_the_age_band_only_when_the_band_changes() -> None:
    same_band = record().correct({"birth_year": 1991}, DAY)
    assert same_band.values == {"birth_year": 1991}
    assert not same_band.announced
    other_band = record().correct({"birth_year": 1960}, DAY)
    assert other_band.age_band == "65_plus"
    assert record(birth_year=None).correct({"birth_year": 1990}, DAY).age_band == "35_44"


def test_sex_cleared_is_announced_as_undisclosed() -> None:
    assert record().correct({"sex": None}, DAY).sex == "undisclosed"


def test_the_same_values_again_change_nothing() -> None:
    correction = record().correct(
        {"preferred_name": "Ah Ming", "roles": ["person_in_recovery"]}, DAY
    )
    assert correction.values == {}
    assert not correction.announced


def test_a_name_and_roles_cannot_be_cleared() -> None:
    with pytest.raises(CommandError) as refused:
        record().correct({"preferred_name": None, "roles": None, "phone": None}, DAY)
    assert refused.value.code == "validation_error"
    assert details(refused) == {"preferred_name": "cannot be cleared", "roles": "cannot be cleared"}


def test_a_waitlisted_referral_is_decided_again_once_and_not_before_it_was_waitlisted() -> None:
    referral = Referral(uuid4(), "received", DAY)
    assert referral.decide("waitlisted", DAY + timedelta(days=1)) is None
    with pytest.raises(CommandError) as too_early:
        referral.decide("accepted", DAY)
    assert details(too_early) == {"on": f"before {(DAY + timedelta(days=1)).isoformat()}"}
    assert referral.decide("accepted", DAY + timedelta(days=5)) == "waitlisted"
    assert referral.status == "accepted"
    with pytest.raises(CommandError) as again:
        referral.decide("declined", DAY + timedelta(days=6))
    assert details(again) == {"referral_id": "already accepted"}


def test_a_waitlisted_referral_is_not_waitlisted_again() -> None:
    referral = Referral(uuid4(), "waitlisted", DAY, decided_on=DAY)
    with pytest.raises(CommandError) as refused:
        referral.decide("waitlisted", DAY)
    assert refused.value.code == "conflict"


def test_an_open_case_is_given_to_another_worker_and_says_whose_it_was() -> None:
    case = Case.open(uuid4(), "likang", "sw-lee", DAY, had_case_here=False)
    assert case.reassign("sw-chan", DAY) == "sw-lee"
    assert case.worker_id == "sw-chan"
    with pytest.raises(CommandError) as same:
        case.reassign("sw-chan", DAY)
    assert details(same) == {"worker_id": "same worker"}
    with pytest.raises(CommandError) as early:
        case.reassign("sw-ho", DAY - timedelta(days=1))
    assert early.value.code == "validation_error"
    case.close("goals_achieved", DAY)
    with pytest.raises(CommandError) as closed:
        case.reassign("sw-ho", DAY)
    assert closed.value.code == "conflict"


def test_a_contact_and_an_assessment_are_voided_once() -> None:
    contact = Contact(uuid4(), uuid4(), uuid4(), "likang")
    contact.void(DAY)
    with pytest.raises(CommandError) as again:
        contact.void(DAY)
    assert details(again) == {"contact_id": "voided"}
    assessment = Assessment(uuid4(), uuid4(), safety_followup=True)
    assessment.void(DAY)
    assert assessment.voided_on == DAY
    with pytest.raises(CommandError) as acknowledged:
        assessment.acknowledge("sw-lee", None)
    assert acknowledged.value.code == "conflict"
