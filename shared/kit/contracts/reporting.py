"""Reporting's public API: figures per site and period, outcomes, and published month summaries.

Reporting answers from read models built only from the other services' events. Figures are
de-identified by default (counts of 1–4, means over fewer than 5 people and hours of fewer than
5 people are suppressed, and further numbers so that none of those can be worked out);
the names of figures and the reply shape are those of ``docs/figures.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.kit.contracts.catalogue import command, event, query
from shared.kit.contracts.messages import Command, EventData, Query
from shared.kit.identity.access import FIGURES, MANAGERS, OUTCOMES, PUBLISHING

Mode = Literal["exact", "deidentified"]
PERIOD_TEXT = r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$"


class PeriodRange(BaseModel):
    """A date range, both ends inclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_date: dt.date = Field(alias="from")
    to_date: dt.date = Field(alias="to")

    @model_validator(mode="after")
    def _in_order(self) -> PeriodRange:
        if self.to_date < self.from_date:
            raise ValueError("the period ends before it starts")
        if (self.to_date - self.from_date).days > 366 * 10:
            raise ValueError("a period spans at most ten years")
        return self


def _period_from_text(value: Any) -> Any:
    """The CLI sends every option as text: a JSON object there means a date range."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError("the period is not valid JSON") from exc
    return value


def _period_named(value: PeriodRange | str) -> PeriodRange | str:
    if isinstance(value, str) and not re.match(PERIOD_TEXT, value):
        raise ValueError('use "2026-11", "2026-Q3", "2026" or {"from": ..., "to": ...}')
    return value


Site = Field(
    pattern=r"^(\*|[a-z][a-z0-9-]{1,31})$",
    description="A site code (its children included), or * for every site.",
)
PeriodField = Field(
    description='A month "2026-11", a quarter "2026-Q3", a year "2026", or {"from", "to"} dates.',
)


@query(
    "reporting",
    "summary",
    access=FIGURES,
)
class Summary(Query):
    """Every figure of docs/figures.md for a site (or *) and a period."""

    site: str = Site
    period: PeriodRange | str = PeriodField
    exact: bool = Field(
        default=False, description="Exact figures (one site only); default de-identified."
    )
    by_site: bool = Field(
        default=False,
        description="Also each site's own figures under `sites` (the site asked for and every "
        "site below it); de-identified, they are suppressed together with the parent's.",
    )

    _text_period = field_validator("period", mode="before")(_period_from_text)
    _named_period = field_validator("period")(_period_named)


@query("reporting", "outcomes", access=OUTCOMES)
class Outcomes(Query):
    """One instrument's paired outcomes, and the "what works" split by programme type and tag."""

    instrument: str = Field(min_length=1, max_length=32)
    site: str = Site
    period: PeriodRange | str = PeriodField
    exact: bool = Field(default=False, description="Exact overall figures (one site only).")

    _text_period = field_validator("period", mode="before")(_period_from_text)
    _named_period = field_validator("period")(_period_named)


@command("reporting", "publish_summary", access=PUBLISHING)
class PublishSummary(Command):
    """Publish a site's summary of a closed month now (once per site and month)."""

    month: str = Field(pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$", examples=["2026-10"])


@event("reporting.summary.published")
class SummaryPublished(EventData):
    """A site's de-identified figures for a month that has closed (named as in docs/figures.md)."""

    month: str = Field(examples=["2026-10"])
    period_from: dt.date
    period_to: dt.date
    mode: Mode
    figures: dict[str, Any]
    suppressed: list[str]
    published_on: dt.date


# --- access requests (issue 17) -------------------------------------------------------------


@query("reporting", "person_data", access=MANAGERS)
class PersonDataQuery(Query):
    """Reporting's statistical copy of a person at the site and below it, for access requests.

    Intake's ``subject_access_export`` asks it: the rows of its read models that
    carry the person's id (ids, codes and dates only, as the events carried them)."""

    person_id: UUID
