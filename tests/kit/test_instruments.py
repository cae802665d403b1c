"""Outcome instruments: configuration, exact scoring, bands, safety follow-up and improvement."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from shared.agency.instruments import AnswersInvalid, Instrument, load_instruments

INSTRUMENTS = load_instruments()

CARER_STRAIN = """
[carer_strain]
title = "Carer strain (locally validated)"
citation = "Agency validation study, 2024."
items = 4
answer_min = 0
answer_max = 3
scoring = "sum"
decimals = 0
direction = "lower"
minimal_change = 2
bands = [
    { name = "little", low = 0, high = 3 },
    { name = "some", low = 4, high = 8 },
    { name = "heavy", low = 9, high = 12 },
]
"""


def _agency_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agency_instruments.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _answers_summing_to(instrument: Instrument, target: int) -> list[int]:
    """Answers to a sum scale without reversed items whose total is ``target``."""
    assert instrument.scoring == "sum" and not instrument.reversed
    remaining = target - instrument.items * instrument.answer_min
    answers = []
    for _ in range(instrument.items):
        extra = min(remaining, instrument.answer_max - instrument.answer_min)
        answers.append(instrument.answer_min + extra)
        remaining -= extra
    assert remaining == 0
    return answers


# The shipped set


def test_shipped_set_holds_the_five_instruments_of_the_spec() -> None:
    assert list(INSTRUMENTS) == ["brs", "k6", "k10", "phq9", "gad7"]
    shape = {
        code: (i.items, i.answer_min, i.answer_max, i.scoring, i.decimals, i.direction)
        for code, i in INSTRUMENTS.items()
    }
    assert shape == {
        "brs": (6, 1, 5, "mean", 2, "higher"),
        "k6": (6, 0, 4, "sum", 0, "lower"),
        "k10": (10, 1, 5, "sum", 0, "lower"),
        "phq9": (9, 0, 3, "sum", 0, "lower"),
        "gad7": (7, 0, 3, "sum", 0, "lower"),
    }
    assert INSTRUMENTS["brs"].reversed == (2, 4, 6)
    assert {code: i.minimal_change for code, i in INSTRUMENTS.items()} == {
        "brs": Decimal("0.5"),
        "k6": 3,
        "k10": 5,
        "phq9": 5,
        "gad7": 4,
    }


def test_shipped_bands_use_the_spec_bounds_and_snake_case_names() -> None:
    bands = {
        code: [(b.name, str(b.low), str(b.high)) for b in i.bands]
        for code, i in INSTRUMENTS.items()
    }
    assert bands == {
        "brs": [("low", "1.00", "2.99"), ("normal", "3.00", "4.30"), ("high", "4.31", "5.00")],
        "k6": [("no_serious_distress", "0", "12"), ("serious_distress", "13", "24")],
        "k10": [
            ("low", "10", "15"),
            ("moderate", "16", "21"),
            ("high", "22", "29"),
            ("very_high", "30", "50"),
        ],
        "phq9": [
            ("minimal", "0", "4"),
            ("mild", "5", "9"),
            ("moderate", "10", "14"),
            ("moderately_severe", "15", "19"),
            ("severe", "20", "27"),
        ],
        "gad7": [
            ("minimal", "0", "4"),
            ("mild", "5", "9"),
            ("moderate", "10", "14"),
            ("severe", "15", "21"),
        ],
    }


def test_only_kessler_scales_carry_the_who_notice_and_no_item_texts_ship() -> None:
    assert {code: i.notice for code, i in INSTRUMENTS.items()} == {
        "brs": None,
        "k6": "© WHO 2003",
        "k10": "© WHO 2003",
        "phq9": None,
        "gad7": None,
    }
    assert all(i.title and i.citation for i in INSTRUMENTS.values())
    assert all(i.item_texts == () for i in INSTRUMENTS.values())


# Worked examples from docs/instruments.md


@pytest.mark.parametrize(
    ("answers", "score", "band"),
    [
        ([4, 2, 4, 2, 4, 2], "4.00", "normal"),
        ([5, 1, 5, 1, 5, 1], "5.00", "high"),
        ([1, 5, 1, 5, 1, 5], "1.00", "low"),
        ([3, 3, 3, 3, 3, 3], "3.00", "normal"),
        ([5, 1, 5, 2, 4, 2], "4.50", "high"),
    ],
)
def test_brs_worked_examples_reverse_items_2_4_6_and_average_to_two_decimals(
    answers: list[int], score: str, band: str
) -> None:
    result = INSTRUMENTS["brs"].score(answers)
    assert str(result.score) == score
    assert result.band == band
    assert result.safety_followup is False


def test_k6_worked_example_scores_13_as_serious_distress() -> None:
    result = INSTRUMENTS["k6"].score([2, 3, 2, 2, 2, 2])
    assert result.score == 13
    assert result.band == "serious_distress"


def test_phq9_worked_example_scores_5_as_mild() -> None:
    result = INSTRUMENTS["phq9"].score([1, 1, 1, 1, 1, 0, 0, 0, 0])
    assert result.score == 5
    assert result.band == "mild"
    assert result.safety_followup is False


# Bands and rounding


@pytest.mark.parametrize(
    ("code", "bound", "band"),
    [
        (code, bound, band.name)
        for code, instrument in INSTRUMENTS.items()
        for band in instrument.bands
        for bound in (band.low, band.high)
    ],
)
def test_every_band_bound_belongs_to_its_own_band(code: str, bound: Decimal, band: str) -> None:
    assert INSTRUMENTS[code].band_for(bound) == band


@pytest.mark.parametrize(
    ("code", "total", "band"),
    [
        (code, int(bound), band.name)
        for code, instrument in INSTRUMENTS.items()
        if instrument.scoring == "sum"
        for band in instrument.bands
        for bound in (band.low, band.high)
    ],
)
def test_sum_scales_place_answers_totalling_each_band_bound_in_that_band(
    code: str, total: int, band: str
) -> None:
    instrument = INSTRUMENTS[code]
    result = instrument.score(_answers_summing_to(instrument, total))
    assert result.score == total
    assert result.band == band


@pytest.mark.parametrize(
    ("answers", "score", "band"),
    [
        ([3, 3, 3, 3, 3, 4], "2.83", "low"),  # 17 / 6 = 2.8333
        ([4, 3, 4, 3, 4, 3], "3.50", "normal"),
        ([5, 2, 4, 2, 4, 2], "4.17", "normal"),  # 25 / 6 = 4.1667
        ([5, 2, 5, 2, 4, 2], "4.33", "high"),  # 26 / 6 = 4.3333
    ],
)
def test_brs_scores_next_to_band_bounds_round_then_band(
    answers: list[int], score: str, band: str
) -> None:
    result = INSTRUMENTS["brs"].score(answers)
    assert str(result.score) == score
    assert result.band == band


def test_mean_scales_round_half_up(tmp_path: Path) -> None:
    path = _agency_file(
        tmp_path,
        """
[recovery]
title = "Recovery"
citation = "Local."
items = 4
answer_min = 1
answer_max = 4
scoring = "mean"
decimals = 1
direction = "higher"
minimal_change = 0.5
bands = [{ name = "early", low = 1.0, high = 2.4 }, { name = "later", low = 2.5, high = 4.0 }]
""",
    )
    recovery = load_instruments(path)["recovery"]
    # 9 / 4 = 2.25: half up gives 2.3, where banker's rounding would give 2.2.
    assert str(recovery.score([2, 2, 2, 3]).score) == "2.3"
    # 2.45 cannot come from answers; a score between two bands' bounds goes to the lower band.
    assert recovery.band_for(Decimal("2.45")) == "early"


# Safety follow-up


def test_phq9_item_9_above_zero_sets_safety_followup_even_with_a_minimal_total() -> None:
    result = INSTRUMENTS["phq9"].score([0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert result.score == 1
    assert result.band == "minimal"
    assert result.safety_followup is True


def test_phq9_item_9_at_zero_sets_no_safety_followup_even_with_a_severe_total() -> None:
    result = INSTRUMENTS["phq9"].score([3, 3, 3, 3, 3, 3, 3, 3, 0])
    assert result.band == "severe"
    assert result.safety_followup is False


def test_instruments_without_a_safety_item_never_set_safety_followup() -> None:
    assert INSTRUMENTS["gad7"].score([3] * 7).safety_followup is False


# Invalid answers


def test_wrong_number_of_answers_is_rejected_naming_the_item_count() -> None:
    with pytest.raises(AnswersInvalid) as caught:
        INSTRUMENTS["brs"].score([3, 3, 3, 3, 3])
    assert caught.value.details == [("answers", "brs has 6 items, got 5 answers")]
    assert isinstance(caught.value, ValueError)


def test_every_out_of_range_answer_is_reported_by_item_number() -> None:
    with pytest.raises(AnswersInvalid) as caught:
        INSTRUMENTS["brs"].score([0, 3, 3, 7, 3, 6])
    assert caught.value.details == [
        ("answers.0", "item 1: answer 0 is outside 1–5"),
        ("answers.3", "item 4: answer 7 is outside 1–5"),
        ("answers.5", "item 6: answer 6 is outside 1–5"),
    ]


def test_wrong_count_and_bad_answers_are_reported_together() -> None:
    with pytest.raises(AnswersInvalid) as caught:
        INSTRUMENTS["phq9"].score([0, 4, 0, -1, 0, 0, 0, 0, 0, 0])
    assert caught.value.details == [
        ("answers", "phq9 has 9 items, got 10 answers"),
        ("answers.1", "item 2: answer 4 is outside 0–3"),
        ("answers.3", "item 4: answer -1 is outside 0–3"),
    ]


def test_answers_that_are_not_whole_numbers_are_rejected() -> None:
    with pytest.raises(AnswersInvalid) as caught:
        INSTRUMENTS["gad7"].score([0, True, 0, 0, 0, 0, 0])  # type: ignore[list-item]
    assert caught.value.details == [("answers.1", "item 2: answer True is not a whole number")]


# Change and improvement


def test_brs_improves_when_the_score_rises_by_at_least_half_a_point() -> None:
    brs = INSTRUMENTS["brs"]
    assert brs.improved(Decimal("3.00"), Decimal("3.50")) is True
    assert brs.improved(Decimal("3.00"), Decimal("3.49")) is False
    assert brs.improved(Decimal("3.50"), Decimal("3.00")) is False
    assert brs.change(Decimal("3.00"), Decimal("3.49")) == Decimal("0.49")


def test_phq9_improves_when_the_score_falls_by_at_least_five() -> None:
    phq9 = INSTRUMENTS["phq9"]
    assert phq9.improved(Decimal(15), Decimal(10)) is True
    assert phq9.improved(Decimal(15), Decimal(11)) is False
    assert phq9.improved(Decimal(10), Decimal(15)) is False
    assert phq9.change(Decimal(15), Decimal(10)) == Decimal(-5)


# Agency configuration


def test_agency_file_adds_an_instrument_and_overrides_a_shipped_minimal_change(
    tmp_path: Path,
) -> None:
    path = _agency_file(tmp_path, CARER_STRAIN + "\n[k6]\nminimal_change = 2\n")
    instruments = load_instruments(path)

    assert list(instruments) == ["brs", "k6", "k10", "phq9", "gad7", "carer_strain"]
    carer = instruments["carer_strain"]
    assert carer.score([1, 1, 1, 1]) == carer.score([0, 2, 2, 0])
    assert carer.score([3, 3, 2, 1]).score == 9
    assert carer.score([3, 3, 2, 1]).band == "heavy"
    assert carer.improved(Decimal(9), Decimal(7)) is True

    k6 = instruments["k6"]
    assert k6.minimal_change == 2
    assert k6.improved(Decimal(13), Decimal(11)) is True
    assert k6.bands == INSTRUMENTS["k6"].bands
    assert k6.notice == "© WHO 2003"
    assert INSTRUMENTS["k6"].improved(Decimal(13), Decimal(11)) is False


@pytest.mark.parametrize(
    ("bands", "reason"),
    [
        (
            '{ name = "little", low = 0, high = 4 }, { name = "some", low = 4, high = 12 }',
            "bands little (0–4) and some (4–12) overlap",
        ),
        (
            '{ name = "little", low = 0, high = 3 }, { name = "some", low = 5, high = 12 }',
            "gap between band little (ends 3) and band some (starts 5)",
        ),
        (
            '{ name = "some", low = 4, high = 12 }, { name = "little", low = 0, high = 3 }',
            "bands out of order: little (starts 0) comes after some (starts 4)",
        ),
        ('{ name = "little", low = 1, high = 12 }', "must start at the lowest possible score 0"),
        ('{ name = "little", low = 0, high = 11 }', "must end at the highest possible score 12"),
    ],
    ids=["overlapping", "gap", "unordered", "not_from_lowest", "not_to_highest"],
)
def test_agency_bands_that_do_not_tile_the_score_range_are_rejected_naming_the_instrument(
    tmp_path: Path, bands: str, reason: str
) -> None:
    text = CARER_STRAIN.split("bands = [")[0] + f"bands = [{bands}]\n"
    with pytest.raises(ValueError, match="instrument carer_strain") as caught:
        load_instruments(_agency_file(tmp_path, text))
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("addition", "reason"),
    [
        ("reversed = [2, 5]", "reversed item(s) 5 outside 1–4"),
        ("safety_item = 0", "safety_item 0 outside 1–4"),
        ("minimal_change = 0", "minimal_change: Input should be greater than 0"),
        ("minimal_chnage = 2", "minimal_chnage: Extra inputs are not permitted"),
        ('item_texts = ["only one"]', "item_texts has 1 texts for 4 items"),
    ],
)
def test_agency_instrument_with_impossible_settings_is_rejected_naming_the_instrument(
    tmp_path: Path, addition: str, reason: str
) -> None:
    key = addition.split(" = ")[0]
    kept = [line for line in CARER_STRAIN.splitlines() if not line.startswith(f"{key} =")]
    text = "\n".join(kept).replace("items = 4\n", f"items = 4\n{addition}\n")
    with pytest.raises(ValueError, match="instrument carer_strain") as caught:
        load_instruments(_agency_file(tmp_path, text))
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_agency_override_that_breaks_a_shipped_instrument_is_rejected_naming_it(
    tmp_path: Path,
) -> None:
    path = _agency_file(tmp_path, "[phq9]\nitems = 8\n")
    with pytest.raises(ValueError, match="instrument phq9: safety_item 9 outside 1–8"):
        load_instruments(path)


def test_agency_table_missing_required_keys_is_rejected_naming_them(tmp_path: Path) -> None:
    path = _agency_file(tmp_path, '[recovery]\ntitle = "Recovery"\n')
    with pytest.raises(ValueError, match="instrument recovery: citation: Field required"):
        load_instruments(path)


def test_missing_or_malformed_agency_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_instruments(tmp_path / "absent.toml")
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_instruments(_agency_file(tmp_path, "[k6\n"))
    with pytest.raises(ValueError, match="k6 is not a table of an instrument"):
        load_instruments(_agency_file(tmp_path, "k6 = 3\n"))
