"""Intake's assessments: scoring with the configured instruments, and safety follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from services.intake.domain import Assessment, score_answers
from shared.agency.instruments import load_instruments
from shared.kit.contracts.replies import CommandError

INSTRUMENTS = load_instruments()


def test_phq9_answers_are_summed_and_banded() -> None:
    answers = [2, 2, 2, 2, 2, 0, 0, 0, 0]  # 10: the first score of "moderate" (10-14)
    scored = score_answers(INSTRUMENTS, "phq9", answers)
    assert (scored.score, scored.band) == (Decimal(sum(answers)), "moderate")


def test_brs_reverses_items_2_4_and_6_and_takes_the_mean() -> None:
    answers = [5, 1, 5, 1, 5, 1]  # every answer the resilient end: 5 after reversing
    scored = score_answers(INSTRUMENTS, "brs", answers)
    assert (scored.score, scored.band) == (Decimal(5), "high")


def test_phq9_item_9_above_zero_raises_a_safety_followup_whatever_the_total() -> None:
    assert score_answers(INSTRUMENTS, "phq9", [0] * 8 + [1]).safety_followup is True
    assert score_answers(INSTRUMENTS, "phq9", [3] * 8 + [0]).safety_followup is False


def test_an_unknown_instrument_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(CommandError) as refused:
        score_answers(INSTRUMENTS, "sdq", [1, 2, 3])
    assert refused.value.code == "validation_error"
    assert [(d.field, d.message) for d in refused.value.details] == [
        ("instrument", f"one of {', '.join(sorted(INSTRUMENTS))}")
    ]


def test_answers_that_do_not_fit_the_instrument_are_refused_naming_each_bad_item() -> None:
    with pytest.raises(CommandError) as refused:
        score_answers(INSTRUMENTS, "gad7", [0, 4, 0, 0, 0, 0, -1])
    assert refused.value.code == "validation_error"
    assert refused.value.message == "the answers do not fit gad7"
    assert [d.field for d in refused.value.details] == ["answers.1", "answers.6"]


def test_the_wrong_number_of_answers_is_refused() -> None:
    with pytest.raises(CommandError) as refused:
        score_answers(INSTRUMENTS, "k6", [0, 0, 0])
    assert [d.field for d in refused.value.details] == ["answers"]


def raised() -> Assessment:
    return Assessment(uuid4(), uuid4(), safety_followup=True)


def test_a_raised_safety_followup_is_acknowledged_by_the_worker_with_a_note() -> None:
    assessment = raised()
    assessment.acknowledge("sw-lee", "called, safe tonight")
    assert (assessment.acknowledged_by, assessment.acknowledge_note) == (
        "sw-lee",
        "called, safe tonight",
    )


def test_an_assessment_without_a_safety_followup_cannot_be_acknowledged() -> None:
    with pytest.raises(CommandError) as refused:
        Assessment(uuid4(), uuid4(), safety_followup=False).acknowledge("sw-lee", None)
    assert refused.value.code == "not_allowed"
    assert [(d.field, d.message) for d in refused.value.details] == [
        ("assessment_id", "no follow-up")
    ]


def test_a_safety_followup_is_acknowledged_only_once() -> None:
    assessment = raised()
    assessment.acknowledged_at = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    with pytest.raises(CommandError) as refused:
        assessment.acknowledge("sw-ho", None)
    assert refused.value.code == "conflict"
    assert [(d.field, d.message) for d in refused.value.details] == [
        ("assessment_id", "already acknowledged")
    ]
