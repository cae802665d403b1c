"""The rules of merging a duplicate into the person it duplicates, with no I/O."""

from __future__ import annotations

from uuid import uuid4

import pytest

from services.intake.domain import OpenCaseAt, Person, merged_roles
from shared.kit.contracts.replies import CommandError


def _person(*roles: str, merged_into=None) -> Person:
    return Person(uuid4(), "likang", roles, merged_into=merged_into)  # type: ignore[arg-type]


def test_the_kept_person_gains_the_duplicates_roles_after_their_own():
    kept, duplicate = _person("family_carer"), _person("volunteer", "family_carer")
    assert merged_roles(duplicate, kept, [], []) == ("family_carer", "volunteer")


def test_open_cases_at_different_sites_merge_and_at_one_site_refuse_naming_both():
    kept, duplicate = _person("rehabilitee"), _person("rehabilitee")
    here, there, also_here = (
        OpenCaseAt(uuid4(), "likang", "open"),
        OpenCaseAt(uuid4(), "jinsha", "open"),
        OpenCaseAt(uuid4(), "likang", "open"),
    )
    assert merged_roles(duplicate, kept, [there], [here]) == ("rehabilitee",)
    with pytest.raises(CommandError) as refused:
        merged_roles(duplicate, kept, [also_here], [here])
    assert refused.value.code == "conflict"
    assert [d.message for d in refused.value.details] == [
        f"{also_here.case_id} and {here.case_id} at likang"
    ]


def test_a_transfer_under_way_or_a_record_already_merged_refuses():
    kept, duplicate = _person("rehabilitee"), _person("rehabilitee")
    moving = OpenCaseAt(uuid4(), "likang", "transferring")
    with pytest.raises(CommandError, match="transfer"):
        merged_roles(duplicate, kept, [moving], [])
    gone = _person("rehabilitee", merged_into=kept.person_id)
    with pytest.raises(CommandError) as refused:
        merged_roles(gone, kept, [], [])
    assert refused.value.details[0].field == "duplicate_id"
    with pytest.raises(CommandError) as itself:
        merged_roles(kept, kept, [], [])
    assert itself.value.code == "validation_error"
