"""Groups' consent rules without servers: a person of another site is enrolled or dropped in
only with their data_sharing consent; a withdrawn service consent ends their places."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.groups.domain import (
    Enrolment,
    Programme,
    ended_with_consent,
    refuse_without_consent_to_share,
)
from shared.kit.contracts.replies import CommandError

DAY = date(2026, 11, 3)


def test_a_person_of_another_site_without_consent_is_not_enrolled_nor_waitlisted():
    full = Programme(uuid4(), "likang", "support_group", 0 + 1, places_taken=1)
    with pytest.raises(CommandError) as refused:
        full.enrol(uuid4(), uuid4(), ["family_carer"], False, may_share=False)
    assert refused.value.code == "consent_required"
    assert [d.field for d in refused.value.details] == ["person_id"]
    assert full.places_taken == 1
    waiting = full.enrol(uuid4(), uuid4(), ["family_carer"], False, may_share=True)
    assert waiting.status == "waitlisted"


def test_a_drop_in_refusal_names_everyone_without_consent():
    one, two = uuid4(), uuid4()
    with pytest.raises(CommandError) as refused:
        refuse_without_consent_to_share([one, two], "dropped_in")
    assert [(d.field, d.message) for d in refused.value.details] == [
        ("dropped_in", f"{one} no data_sharing consent"),
        ("dropped_in", f"{two} no data_sharing consent"),
    ]
    refuse_without_consent_to_share([], "dropped_in")


def test_a_withdrawn_service_consent_ends_places_in_programmes_still_meeting_only():
    person = uuid4()

    def place(status: str) -> Enrolment:
        return Enrolment(uuid4(), uuid4(), person, "jinsha", status)  # type: ignore[arg-type]

    meeting, waiting, over, unscheduled = (
        place("enrolled"),
        place("waitlisted"),
        place("enrolled"),
        place("enrolled"),
    )
    active = [
        (meeting, DAY + timedelta(days=7)),
        (waiting, DAY),
        (over, DAY - timedelta(days=1)),
        (unscheduled, None),
    ]
    assert ended_with_consent(active, DAY) == [meeting, waiting]
