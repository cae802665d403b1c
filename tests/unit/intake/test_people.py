"""Intake's rules about people: de-identification, possible duplicates, carers, consent."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from services.intake.domain import (
    ConsentState,
    Person,
    age_band,
    phone_digits,
    refuse_own_carer,
    refuse_possible_duplicates,
    require_service_consent,
)
from shared.kit.contracts.replies import CommandError

TODAY = date(2026, 11, 3)


def details(error: pytest.ExceptionInfo[CommandError]) -> dict[str, str]:
    return {d.field: d.message for d in error.value.details}


@pytest.mark.parametrize(
    ("birth_year", "band"),
    [
        (2009, "under_18"),  # 17 in 2026
        (2008, "18_24"),  # 18
        (2002, "18_24"),  # 24
        (2001, "25_34"),  # 25
        (1982, "35_44"),  # 44
        (1981, "45_54"),  # 45
        (1972, "45_54"),  # 54
        (1962, "55_64"),  # 64
        (1961, "65_plus"),  # 65
        (1930, "65_plus"),
    ],
)
def test_events_carry_an_age_band_from_the_age_reached_this_year(
    birth_year: int, band: str
) -> None:
    assert age_band(birth_year, TODAY) == band


def test_a_person_without_a_birth_year_is_in_the_unknown_age_band() -> None:
    assert age_band(None, TODAY) == "unknown"


def test_phone_numbers_compare_by_their_last_eight_digits() -> None:
    assert phone_digits("+852 9123 4567") == "91234567"
    assert phone_digits("9123-4567") == phone_digits("(+852) 91234567")


def test_a_short_phone_number_keeps_all_its_digits_and_no_phone_stays_none() -> None:
    assert phone_digits("ext. 1234") == "1234"
    assert phone_digits(None) is None


def test_a_possible_duplicate_is_refused_naming_every_candidate() -> None:
    candidates = [uuid4(), uuid4()]
    with pytest.raises(CommandError) as refused:
        refuse_possible_duplicates(candidates, register_anyway=False)
    assert refused.value.code == "conflict"
    assert [(d.field, d.message) for d in refused.value.details] == [
        ("possible_duplicate", str(c)) for c in candidates
    ]


def test_register_anyway_registers_a_possible_duplicate_after_checking() -> None:
    refuse_possible_duplicates([uuid4()], register_anyway=True)


def test_nobody_like_the_newcomer_means_no_refusal() -> None:
    refuse_possible_duplicates([], register_anyway=False)


def test_a_person_cannot_be_their_own_carer() -> None:
    someone = uuid4()
    with pytest.raises(CommandError) as refused:
        refuse_own_carer(someone, someone)
    assert refused.value.code == "validation_error"
    assert details(refused) == {"cared_for_id": "same person"}


def test_two_different_people_may_be_carer_and_cared_for() -> None:
    refuse_own_carer(uuid4(), uuid4())


def test_a_carer_must_be_registered_with_the_family_carer_role() -> None:
    son = Person(uuid4(), "likang", ("person_in_recovery",))
    with pytest.raises(CommandError) as refused:
        son.must_be_family_carer()
    assert refused.value.code == "not_allowed"
    assert details(refused) == {"carer_id": "not a family carer"}


def test_a_family_carer_with_other_roles_too_may_care() -> None:
    Person(uuid4(), "likang", ("person_in_recovery", "family_carer")).must_be_family_carer()


def test_a_case_needs_service_consent() -> None:
    with pytest.raises(CommandError) as refused:
        require_service_consent(ConsentState({"outcome_data": True}))
    assert refused.value.code == "consent_required"
    assert details(refused) == {"person_id": "no service consent"}


def test_consent_withdrawn_for_service_refuses_a_case() -> None:
    with pytest.raises(CommandError):
        require_service_consent(ConsentState({"service": False}))


def test_service_consent_given_allows_a_case() -> None:
    require_service_consent(ConsentState({"service": True}))


def test_no_consent_record_means_consent_not_given() -> None:
    nothing = ConsentState()
    assert [nothing.allows(p) for p in ("service", "outcome_data", "data_sharing")] == [
        False,
        False,
        False,
    ]
