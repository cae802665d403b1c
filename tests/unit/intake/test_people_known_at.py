"""Where a person is known: their registration site and the sites of their cases."""

from __future__ import annotations

from uuid import uuid4

from services.intake.domain import Person
from shared.agency.sites import DEMO_ORGANISATION, load_organisation

BELOW = load_organisation(DEMO_ORGANISATION).with_descendants


def test_a_person_is_known_where_registered_and_at_the_sites_above():
    person = Person(uuid4(), "jinsha", ("family_carer",))
    assert person.known_at(BELOW("jinsha"))
    assert person.known_at(BELOW("likang"))
    assert person.known_at(BELOW("hq"))
    assert not person.known_at(BELOW("nanyuan"))
    assert not person.known_at(BELOW("icmhc"))


def test_a_person_with_a_case_at_another_site_is_known_there_too():
    moved = Person(uuid4(), "likang", ("person_in_recovery",), frozenset({"likang", "nanyuan"}))
    assert moved.known_at(BELOW("nanyuan"))
    assert not moved.known_at(BELOW("jinsha"))


def test_a_person_transferred_in_keeps_their_roles_and_gains_the_sending_sites() -> None:
    known = Person(uuid4(), "likang", ("family_carer",))
    assert known.with_roles(["person_in_recovery", "family_carer", "person_in_recovery"]) == (
        "family_carer",
        "person_in_recovery",
    )
    assert known.with_roles(["family_carer"]) == ("family_carer",)
