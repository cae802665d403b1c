"""Drop-ins: registered people marked present at a session without an enrolment."""

from __future__ import annotations

from datetime import date, time
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.groups.domain import Programme, Slot
from shared.kit.contracts.replies import CommandError

MONDAY = date(2026, 11, 2)


def talk(**kw: Any) -> Programme:
    fields: dict[str, Any] = {"capacity": 0, "tags": ("carer_support",)}
    fields.update(kw)
    return Programme(uuid4(), "likang", "psychoeducation_talk", **fields)


def refusal(call: Any, *args: object, **kwargs: object) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call(*args, **kwargs)
    return caught.value


def details(error: CommandError) -> list[tuple[str, str]]:
    return [(d.field, d.message) for d in error.details]


def mark(programme: Programme, enrolled: set[UUID], dropped_in: list[UUID], **kw: Any):
    session = programme.session(uuid4(), Slot.of(MONDAY, time(19), 90, "Hall", ()))
    return session, session.record_attendance(
        kw.get("present", []),
        kw.get("absent", []),
        kw.get("walk_ins", 0),
        today=MONDAY,
        may_be_marked=enrolled,
        dropped_in=dropped_in,
    )


def test_a_capacity_0_talk_admits_registered_people_who_drop_in():
    mum = uuid4()
    talk().admit_drop_ins({mum: ["family_carer"]})
    session, attendance = mark(talk(), set(), [mum, mum], walk_ins=30)
    assert session.status == "held"
    assert (attendance.present, attendance.dropped_in, attendance.walk_ins) == ([mum], [mum], 30)


def test_drop_ins_are_present_beside_the_people_enrolled():
    enrolled, dropped = uuid4(), uuid4()
    _, attendance = mark(talk(capacity=12), {enrolled}, [dropped], present=[enrolled])
    assert (attendance.present, attendance.dropped_in) == ([enrolled, dropped], [dropped])


def test_a_programme_needing_a_case_refuses_drop_ins_with_the_reason():
    error = refusal(talk(requires_case=True).admit_drop_ins, {uuid4(): ["person_in_recovery"]})
    assert (error.code, details(error)) == (
        "not_allowed",
        [("dropped_in", "programme requires a case")],
    )


def test_a_drop_in_needs_one_of_the_programmes_target_roles():
    carer, neighbour = uuid4(), uuid4()
    group = talk(target_roles=("family_carer",))
    group.admit_drop_ins({carer: ["family_carer", "volunteer"]})
    error = refusal(
        group.admit_drop_ins, {carer: ["family_carer"], neighbour: ["community_member"]}
    )
    assert error.code == "not_allowed" and error.message == "this programme is for family_carer"
    assert details(error) == [("dropped_in", f"{neighbour} has roles community_member")]


def test_someone_groups_has_not_heard_of_cannot_drop_in():
    stranger = uuid4()
    error = refusal(talk().admit_drop_ins, {stranger: None})
    assert (error.code, details(error)) == (
        "not_found",
        [("dropped_in", f"unknown person {stranger}")],
    )


def test_someone_enrolled_is_marked_present_not_as_a_drop_in():
    mum = uuid4()
    error = refusal(mark, talk(capacity=12), {mum}, [mum])
    assert (error.code, details(error)) == ("validation_error", [("dropped_in", str(mum))])


def test_a_drop_in_is_not_also_listed_present_or_absent():
    mum = uuid4()
    error = refusal(mark, talk(), set(), [mum], absent=[mum])
    assert error.code == "validation_error" and details(error) == [("dropped_in", str(mum))]
