"""Intake's case record: care-plan goals and the needs-and-risk screening at referral."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest

from services.intake.domain import Case, Goal, Referral, screen_answers
from shared.agency.screenings import load_screenings
from shared.kit.contracts.replies import CommandError

SCREENINGS = load_screenings()
OCT = date(2026, 10, 1)


def open_case(on: date = OCT) -> Case:
    return Case.open(uuid4(), "likang", "sw-lee", on, had_case_here=False)


def refused(code: str, call, *args) -> CommandError:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError) as error:
        call(*args)
    assert error.value.code == code
    return error.value


def test_a_goal_is_set_on_an_open_case_and_ends_met_once() -> None:
    case = open_case()
    goal = Goal.set(case, date(2026, 10, 5))
    assert (goal.case_id, goal.person_id, goal.site, goal.status) == (
        case.case_id,
        case.person_id,
        "likang",
        "open",
    )
    goal.review(case, date(2026, 10, 12))
    goal.end(case, "met", date(2026, 10, 20))
    assert (goal.status, goal.ended_on) == ("met", date(2026, 10, 20))
    refused("conflict", goal.end, case, "dropped", date(2026, 10, 21))
    refused("conflict", goal.review, case, date(2026, 10, 21))


def test_a_goal_is_not_set_on_a_closed_or_transferring_case_nor_before_it_opened() -> None:
    closed = open_case()
    closed.close("goals_achieved", date(2026, 10, 3))
    refused("conflict", Goal.set, closed, date(2026, 10, 3))
    moving = open_case()
    moving.start_transfer("nanyuan", date(2026, 10, 3))
    refused("conflict", Goal.set, moving, date(2026, 10, 3))
    refused("validation_error", Goal.set, open_case(), date(2026, 9, 30))


def test_a_goal_review_is_dated_from_its_setting_to_the_case_closing() -> None:
    case = open_case()
    goal = Goal.set(case, date(2026, 10, 5))
    refused("validation_error", goal.review, case, date(2026, 10, 4))
    case.close("goals_achieved", date(2026, 10, 20))
    goal.review(case, date(2026, 10, 19))  # entered late, for a day the case was open
    refused("conflict", goal.end, case, "met", date(2026, 10, 21))
    goal.end(case, "dropped", date(2026, 10, 20))
    assert goal.status == "dropped"


def test_the_shipped_screening_bands_its_total_and_raises_each_items_flag() -> None:
    routine = screen_answers(SCREENINGS, "needs_risk", [0, 1, 1, 0, 1, 1, 0])
    assert (routine.total, routine.band, routine.flags) == (4, "routine", ())
    attention = screen_answers(SCREENINGS, "needs_risk", [0, 2, 2, 1, 0, 0, 0])
    assert (attention.total, attention.band) == (5, "attention")
    assert attention.flags == ("trauma_exposure", "trauma_reactions", "practical_needs")
    assert screen_answers(SCREENINGS, "needs_risk", [0] + [2] * 6).band == "priority"


def test_a_safety_answer_makes_the_screening_urgent_whatever_its_total() -> None:
    urgent = screen_answers(SCREENINGS, "needs_risk", [1, 0, 0, 0, 0, 0, 0])
    assert (urgent.total, urgent.band, urgent.flags) == (1, "urgent", ("safety",))


def test_answers_that_do_not_fit_are_refused_naming_each_item() -> None:
    error = refused("validation_error", screen_answers, SCREENINGS, "needs_risk", [0, 3, -1])
    assert [(d.field, d.message) for d in error.details] == [
        ("answers", "needs_risk has 7 items, got 3 answers"),
        ("answers.1", "item 2: answer 3 is outside 0–2"),
        ("answers.2", "item 3: answer -1 is outside 0–2"),
    ]
    error = refused("validation_error", screen_answers, SCREENINGS, "acs", [0])
    assert [(d.field, d.message) for d in error.details] == [("screening", "one of needs_risk")]


def test_a_referral_is_not_screened_before_it_was_received() -> None:
    referral = Referral(uuid4(), "received", date(2026, 10, 10))
    referral.may_screen(date(2026, 10, 10))
    refused("validation_error", referral.may_screen, date(2026, 10, 9))


def test_an_agency_file_replaces_the_items_and_a_bad_one_is_refused_with_its_reason(
    tmp_path: Path,
) -> None:
    own = tmp_path / "screenings.toml"
    own.write_text(
        """[needs_risk]
answer_max = 1
urgent_flags = []
bands = [{ name = "routine", low = 0, high = 0 }, { name = "follow_up", low = 1, high = 1 }]
items = [{ code = "housing", flag = "housing", flag_at = 1, question = "Housing at risk?" }]
""",
        encoding="utf-8",
    )
    mine = load_screenings(own)["needs_risk"]
    assert mine.title == SCREENINGS["needs_risk"].title
    assert mine.screen([1]).model_dump() == {
        "total": 1,
        "band": "follow_up",
        "flags": ("housing",),
    }
    own.write_text(
        """[needs_risk]
bands = [{ name = "routine", low = 0, high = 3 }]
""",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="bands must end at the highest possible total 14"):
        load_screenings(own)
