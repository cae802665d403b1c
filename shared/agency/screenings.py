"""Needs-and-risk screenings asked at referral, as configuration (``screenings.toml``).

Like the instruments: the shipped set lives next to this module, and an agency file (the
service passes ``CARENET_SCREENINGS``) adds screenings or replaces keys of shipped ones.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.agency.tables import load_tables

SHIPPED_SCREENINGS = Path(__file__).with_name("screenings.toml")

_CODE = r"^[a-z][a-z0-9_]*$"


class AnswersDoNotFit(ValueError):
    """Answers that do not fit a screening; ``details`` holds ``(field, message)`` pairs."""

    def __init__(self, details: list[tuple[str, str]]) -> None:
        self.details = details
        super().__init__("; ".join(f"{field}: {message}" for field, message in details))


class ScreeningItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=_CODE)
    question: str = Field(min_length=1)
    flag: str = Field(pattern=_CODE)
    flag_at: int = Field(ge=1)


class ScreeningBand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_CODE)
    low: int = Field(ge=0)
    high: int = Field(ge=0)


class Screened(BaseModel):
    """What one set of answers gives: the total, its band and the flags raised."""

    model_config = ConfigDict(frozen=True)

    total: int
    band: str
    flags: tuple[str, ...]


URGENT = "urgent"
"""The band of a screening that raised one of its ``urgent_flags``, whatever its total."""


class Screening(BaseModel):
    """One screening: its items in order, the answer range, bands on the total, urgent flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=_CODE)
    title: str = Field(min_length=1)
    answer_max: int = Field(ge=1)
    items: tuple[ScreeningItem, ...] = Field(min_length=1)
    bands: tuple[ScreeningBand, ...] = Field(min_length=1)
    urgent_flags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Screening:
        codes = [item.code for item in self.items]
        if len(set(codes)) != len(codes):
            raise ValueError("item codes repeat")
        for item in self.items:
            if item.flag_at > self.answer_max:
                raise ValueError(
                    f"item {item.code}: flag_at {item.flag_at} is above answer_max "
                    f"{self.answer_max}"
                )
        flags = {item.flag for item in self.items}
        unknown = [flag for flag in self.urgent_flags if flag not in flags]
        if unknown:
            raise ValueError(f"urgent_flags {', '.join(unknown)} are no item's flag")
        names = [band.name for band in self.bands]
        if len(set(names)) != len(names) or URGENT in names:
            raise ValueError(f"band names repeat or use {URGENT!r}")
        expected_low = 0
        for band in self.bands:
            if band.low != expected_low or band.high < band.low:
                raise ValueError(
                    f"bands must run on from {expected_low} without gaps or overlaps; "
                    f"band {band.name} is {band.low}–{band.high}"
                )
            expected_low = band.high + 1
        highest = self.answer_max * len(self.items)
        if expected_low - 1 != highest:
            raise ValueError(f"bands must end at the highest possible total {highest}")
        return self

    def screen(self, answers: list[int]) -> Screened:
        """The total, band and flags of ``answers`` (item 1 first); raises ``AnswersDoNotFit``
        listing every bad answer."""
        details: list[tuple[str, str]] = []
        if len(answers) != len(self.items):
            details.append(
                ("answers", f"{self.code} has {len(self.items)} items, got {len(answers)} answers")
            )
        for index, answer in enumerate(answers):
            if isinstance(answer, bool) or not 0 <= answer <= self.answer_max:
                details.append(
                    (
                        f"answers.{index}",
                        f"item {index + 1}: answer {answer!r} is outside 0–{self.answer_max}",
                    )
                )
        if details:
            raise AnswersDoNotFit(details)
        total = sum(answers)
        flags = tuple(
            dict.fromkeys(
                item.flag
                for item, answer in zip(self.items, answers, strict=True)
                if answer >= item.flag_at
            )
        )
        if any(flag in self.urgent_flags for flag in flags):
            band = URGENT
        else:
            band = next(b.name for b in self.bands if b.low <= total <= b.high)
        return Screened(total=total, band=band, flags=flags)


def load_screenings(extra: Path | None = None) -> dict[str, Screening]:
    """The shipped screenings, with an agency file's tables added or replacing shipped keys.
    Raises ``ValueError`` with a one-line reason."""
    return load_tables(Screening, "screening", SHIPPED_SCREENINGS, extra)
