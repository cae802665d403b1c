"""Plain domain objects for reporting's rule tests: no servers, no database, no NATS."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from services.reporting.domain import Score
from shared.agency.instruments import Instrument, load_instruments
from shared.agency.sites import Organisation, Site

INSTRUMENTS = load_instruments()
BRS: Instrument = INSTRUMENTS["brs"]  # higher is better
K6: Instrument = INSTRUMENTS["k6"]  # lower is better

RECORDED = datetime(2026, 1, 1, 9, 0)


def score(
    person: UUID,
    timepoint: str,
    value: Decimal | float | str,
    on: date,
    *,
    site: str = "likang",
    later_by: int = 0,
) -> Score:
    """A score on ``on``; ``later_by`` minutes orders scores recorded for the same day."""
    return Score(
        person, site, timepoint, Decimal(str(value)), on, RECORDED + timedelta(minutes=later_by)
    )


def person() -> UUID:
    return uuid4()


def site(code: str, parent: str | None = None, **extra: Any) -> Site:
    if parent is None:
        return Site(code=code, name=code.title(), kind="head_office", **extra)
    return Site(code=code, name=code.title(), kind="centre", parent=parent, **extra)


def organisation(*sites: Site) -> Organisation:
    return Organisation(sites=list(sites))
