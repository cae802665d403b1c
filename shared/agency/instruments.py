"""Outcome instruments as configuration, and exact scoring per ``docs/instruments.md``.

The shipped set lives in ``instruments.toml`` next to this module; an agency file (the service
passes ``CARENET_INSTRUMENTS``) adds instruments or overrides keys of shipped ones.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.agency.tables import load_tables

SHIPPED_INSTRUMENTS = Path(__file__).with_name("instruments.toml")

_CODE = r"^[a-z][a-z0-9_]*$"


class AnswersInvalid(ValueError):
    """Answers that cannot be scored; ``details`` holds ``(field, message)`` pairs."""

    def __init__(self, details: list[tuple[str, str]]) -> None:
        self.details = details
        super().__init__("; ".join(f"{field}: {message}" for field, message in details))


class Band(BaseModel):
    """A named score band with inclusive bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_CODE)
    low: Decimal
    high: Decimal

    @model_validator(mode="after")
    def _low_not_above_high(self) -> Band:
        if self.low > self.high:
            raise ValueError(f"band {self.name}: low {self.low} is above high {self.high}")
        return self


class Score(BaseModel):
    """The result of scoring one set of answers."""

    model_config = ConfigDict(frozen=True)

    score: Decimal
    band: str
    safety_followup: bool


class Instrument(BaseModel):
    """One outcome instrument: items, answer range, scoring rule, bands and direction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=_CODE)
    title: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    notice: str | None = None
    items: int = Field(ge=1)
    answer_min: int
    answer_max: int
    reversed: tuple[int, ...] = ()
    scoring: Literal["mean", "sum"]
    decimals: int = Field(ge=0, le=10)
    direction: Literal["higher", "lower"]
    minimal_change: Decimal = Field(gt=0)
    bands: tuple[Band, ...] = Field(min_length=1)
    safety_item: int | None = None
    item_texts: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        if self.answer_min >= self.answer_max:
            raise ValueError(
                f"answer_min {self.answer_min} must be below answer_max {self.answer_max}"
            )
        outside = [item for item in self.reversed if not 1 <= item <= self.items]
        if outside:
            listed = ", ".join(str(item) for item in outside)
            raise ValueError(f"reversed item(s) {listed} outside 1–{self.items}")
        if len(set(self.reversed)) != len(self.reversed):
            raise ValueError("reversed items repeat")
        if self.safety_item is not None and not 1 <= self.safety_item <= self.items:
            raise ValueError(f"safety_item {self.safety_item} outside 1–{self.items}")
        if self.item_texts and len(self.item_texts) != self.items:
            raise ValueError(f"item_texts has {len(self.item_texts)} texts for {self.items} items")
        self._check_bands()
        return self

    def _check_bands(self) -> None:
        step = self._step
        for band in self.bands:
            for bound in (band.low, band.high):
                if bound != bound.quantize(step):
                    raise ValueError(
                        f"band {band.name}: bound {bound} has more than {self.decimals} decimals"
                    )
        names = [band.name for band in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("band names repeat")
        pairs = list(zip(self.bands, self.bands[1:], strict=False))
        for before, after in pairs:
            if after.low < before.low:
                raise ValueError(
                    f"bands out of order: {after.name} (starts {after.low}) comes after "
                    f"{before.name} (starts {before.low})"
                )
        first, last = self.bands[0], self.bands[-1]
        if first.low != self.lowest_score:
            raise ValueError(
                f"bands must start at the lowest possible score {self.lowest_score}, "
                f"band {first.name} starts at {first.low}"
            )
        for before, after in pairs:
            if after.low <= before.high:
                raise ValueError(
                    f"bands {before.name} ({before.low}–{before.high}) and "
                    f"{after.name} ({after.low}–{after.high}) overlap"
                )
            if after.low != before.high + step:
                raise ValueError(
                    f"gap between band {before.name} (ends {before.high}) and "
                    f"band {after.name} (starts {after.low})"
                )
        if last.high != self.highest_score:
            raise ValueError(
                f"bands must end at the highest possible score {self.highest_score}, "
                f"band {last.name} ends at {last.high}"
            )

    @property
    def _step(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    @property
    def lowest_score(self) -> Decimal:
        """The lowest score any valid answers can give."""
        per_item = Decimal(self.answer_min)
        return per_item * self.items if self.scoring == "sum" else per_item

    @property
    def highest_score(self) -> Decimal:
        """The highest score any valid answers can give."""
        per_item = Decimal(self.answer_max)
        return per_item * self.items if self.scoring == "sum" else per_item

    def score(self, answers: list[int]) -> Score:
        """Score raw answers (item 1 first); raises ``AnswersInvalid`` listing every bad item."""
        self._check_answers(answers)
        flip = self.answer_min + self.answer_max
        reversed_items = set(self.reversed)
        total = sum(
            flip - answer if item in reversed_items else answer
            for item, answer in enumerate(answers, start=1)
        )
        raw = Decimal(total) / self.items if self.scoring == "mean" else Decimal(total)
        value = raw.quantize(self._step, rounding=ROUND_HALF_UP)
        safety = self.safety_item is not None and answers[self.safety_item - 1] > self.answer_min
        return Score(score=value, band=self.band_for(value), safety_followup=safety)

    def _check_answers(self, answers: list[int]) -> None:
        details: list[tuple[str, str]] = []
        if len(answers) != self.items:
            details.append(
                ("answers", f"{self.code} has {self.items} items, got {len(answers)} answers")
            )
        span = f"{self.answer_min}–{self.answer_max}"
        for index, answer in enumerate(answers):
            # bool is an int subclass; True must not pass as the answer 1.
            if not isinstance(answer, int) or isinstance(answer, bool):
                details.append(
                    (
                        f"answers.{index}",
                        f"item {index + 1}: answer {answer!r} is not a whole number",
                    )
                )
            elif not self.answer_min <= answer <= self.answer_max:
                details.append(
                    (f"answers.{index}", f"item {index + 1}: answer {answer} is outside {span}")
                )
        if details:
            raise AnswersInvalid(details)

    def band_for(self, value: Decimal) -> str:
        """The name of the band a score falls in."""
        # A score on a bound belongs to the band that starts there; taking the last band that
        # starts at or below the score also places any score falling between two bounds.
        chosen = self.bands[0]
        for band in self.bands:
            if band.low <= value:
                chosen = band
        return chosen.name

    def change(self, baseline: Decimal, latest: Decimal) -> Decimal:
        """Latest score minus baseline score."""
        return latest - baseline

    def improved(self, baseline: Decimal, latest: Decimal) -> bool:
        """Whether the score moved the better way by at least ``minimal_change``."""
        change = self.change(baseline, latest)
        better = change if self.direction == "higher" else -change
        return better >= self.minimal_change


def load_instruments(extra: Path | None = None) -> dict[str, Instrument]:
    """The shipped instruments, with an agency file's tables added or overriding shipped keys.

    A table in ``extra`` for a new code defines a whole instrument; for a shipped code it
    replaces only the keys it names. Raises ``ValueError`` with a one-line reason.
    """
    # Decimal keeps bounds such as 2.99 exact instead of binary floats.
    return load_tables(Instrument, "instrument", SHIPPED_INSTRUMENTS, extra, parse_float=Decimal)
