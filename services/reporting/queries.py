"""Reporting's queries: ``summary`` (every figure) and ``outcomes`` (with "what works")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from services.reporting.domain import (
    Pair,
    Period,
    achievement,
    deidentify,
    outcome_stats,
    parse_period,
    site_targets,
)
from services.reporting.figures import Figures
from shared.agency.instruments import Instrument
from shared.agency.sites import Organisation
from shared.kit.bus.requests import QueryContext
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.reporting import Outcomes, Summary

ALL = "*"


@dataclass(frozen=True)
class Reporting:
    """What reporting's queries and tasks know besides the read models."""

    organisation: Organisation
    instruments: dict[str, Instrument]
    served: tuple[str, ...] | None
    """The sites this instance consumes events of, or None for every site."""

    def sites_of(self, site: str) -> list[str] | None:
        """The sites a figure for ``site`` covers (None: every site); refuses what this
        instance cannot answer for."""
        if site == ALL:
            if self.served is not None:
                raise CommandError(
                    "not_allowed",
                    "this reporting instance serves only some sites; ask one serving every site",
                    site="all sites",
                )
            return None
        try:
            sites = self.organisation.with_descendants(site)
        except KeyError:
            raise CommandError("not_found", "no such site", site="unknown site") from None
        if self.served is not None:
            missing = [s for s in sites if s not in self.served]
            if missing:
                raise CommandError(
                    "not_allowed",
                    f"this reporting instance does not serve {', '.join(missing)}",
                    site="not served here",
                )
        return sites

    def mode(self, site: str, exact: bool) -> str:
        if exact and site == ALL:
            raise CommandError(
                "not_allowed",
                "exact figures are given for one site only; all sites are de-identified",
                exact="only for one site",
            )
        return "exact" if exact else "deidentified"


async def summary_of(
    conn: asyncpg.Connection, reporting: Reporting, site: str, period: Period, exact: bool
) -> dict[str, Any]:
    """The ``summary`` reply of figures.md for a site (or ``*``) and a period."""
    mode = reporting.mode(site, exact)
    sites = reporting.sites_of(site)
    figures = await Figures(conn, sites, period, reporting.instruments).all()
    suppressed = deidentify(figures) if mode == "deidentified" else []
    reply: dict[str, Any] = {
        "site": site,
        "period": period.as_json(),
        "mode": mode,
        "figures": figures,
        "suppressed": suppressed,
    }
    codes = reporting.organisation.codes() if sites is None else sites
    targets = site_targets(reporting.organisation.sites, codes)
    if targets:
        reply["achievement"] = {
            "basis": "yearly targets pro-rated to the period's days",
            "figures": achievement(targets, figures, period),
        }
    return reply


async def summary(q: Summary, ctx: QueryContext, *, reporting: Reporting) -> dict[str, Any]:
    return await summary_of(ctx.conn, reporting, q.site, parse_period(q.period), q.exact)


def _split(found: list[Pair], within: dict[Any, bool], instrument: Instrument) -> dict[str, Any]:
    attended = [p for p in found if within.get(p.person_id)]
    others = [p for p in found if not within.get(p.person_id)]
    return {
        "attended": {**outcome_stats(instrument, attended)},
        "not_attended": {**outcome_stats(instrument, others)},
    }


async def outcomes(q: Outcomes, ctx: QueryContext, *, reporting: Reporting) -> dict[str, Any]:
    """Paired outcomes of one instrument, split by what people attended between their
    baseline and their later score (sessions dated in that window, both ends included)."""
    instrument = reporting.instruments.get(q.instrument)
    if instrument is None:
        raise CommandError(
            "not_found",
            f"unknown instrument {q.instrument!r}",
            instrument=f"one of {', '.join(sorted(reporting.instruments))}",
        )
    mode = reporting.mode(q.site, q.exact)
    period = parse_period(q.period)
    figures = Figures(ctx.conn, reporting.sites_of(q.site), period, reporting.instruments)
    found = await figures.pairs(q.instrument)
    sessions = await figures.attended([p.person_id for p in found])
    types, tags = await figures.programme_kinds()
    by_type: dict[str, dict[Any, bool]] = {t: {} for t in types}
    by_tag: dict[str, dict[Any, bool]] = {t: {} for t in tags}
    for pair in found:
        for session in sessions:
            if pair.person_id not in session["present"]:
                continue
            if not pair.baseline.on <= session["session_on"] <= pair.latest.on:
                continue
            by_type.setdefault(session["programme_type"], {})[pair.person_id] = True
            for tag in session["tags"]:
                by_tag.setdefault(tag, {})[pair.person_id] = True
    overall = {"overall": outcome_stats(instrument, found)}
    suppressed = deidentify(overall) if mode == "deidentified" else []
    what_works: dict[str, Any] = {
        "programme_type": {t: _split(found, seen, instrument) for t, seen in by_type.items()},
        "tag": {t: _split(found, seen, instrument) for t, seen in sorted(by_tag.items())},
    }
    # Whatever the mode: a comparison of small groups says more about people than programmes.
    suppressed += [f"what_works.{path}" for path in deidentify(what_works)]
    return {
        "instrument": q.instrument,
        "direction": instrument.direction,
        "minimal_change": float(instrument.minimal_change),
        "site": q.site,
        "period": period.as_json(),
        "mode": mode,
        **overall,
        "what_works": what_works,
        "suppressed": suppressed,
    }
