"""Reporting's queries: ``summary`` (every figure) and ``outcomes`` (with "what works").

Their reads are ``views.Reads``; the figures' arithmetic is in ``figures.py`` and the rules
(whom a figure covers, pairing, suppression, targets) in ``domain.py``.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.reporting import views
from services.reporting.domain import (
    ALL,
    Period,
    Reporting,
    achievement,
    deidentify,
    outcome_stats,
    parse_period,
    site_targets,
    what_works,
)
from services.reporting.figures import every_figure, hours_contributors, paired
from services.reporting.suppression import deidentify_outcomes, suppress
from services.reporting.views import Reads
from shared.kit.bus.requests import QueryContext
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.reporting import Outcomes, PersonDataQuery, Summary
from shared.kit.identity.access import names_site


async def summary_of(
    conn: asyncpg.Connection,
    reporting: Reporting,
    site: str,
    period: Period,
    exact: bool,
    by_site: bool = False,
) -> dict[str, Any]:
    """The ``summary`` reply of docs/figures.md for a site (or ``*``) and a period; with
    ``by_site``, also each covered site's own figures under ``sites``."""
    mode = reporting.mode(site, exact)
    sites = reporting.sites_of(site)
    codes = reporting.organisation.codes() if sites is None else sites
    reads = Reads(conn, sites, period)
    tables: dict[str, dict[str, Any]] = {"": await every_figure(reads, reporting.instruments)}
    contributors: dict[str, dict[str, int]] = {}
    if mode == "deidentified":
        contributors[""] = await hours_contributors(reads)
    if by_site:
        for code in codes:
            own = Reads(conn, [code], period)
            tables[f"sites.{code}"] = await every_figure(own, reporting.instruments)
            if mode == "deidentified":
                contributors[f"sites.{code}"] = await hours_contributors(own)
    parts = [prefix for prefix in tables if prefix]
    suppressed = (
        suppress(tables, contributors, [("", parts)] if parts else [])
        if mode == "deidentified"
        else []
    )
    figures = tables[""]
    reply: dict[str, Any] = {
        "site": site,
        "period": period.as_json(),
        "mode": mode,
        "figures": figures,
    }
    if by_site:
        reply["sites"] = {code: tables[f"sites.{code}"] for code in codes}
    targets = site_targets(reporting.organisation.sites, codes)
    if targets:
        lines = achievement(targets, figures, period)
        for name, line in lines.items():
            # A hidden total's share of its target would give the total away.
            if (figures.get(name) or {}).get("total", 0) is None:
                line["pct_of_target"] = None
                suppressed += [
                    f"achievement.figures.{name}.actual",
                    f"achievement.figures.{name}.pct_of_target",
                ]
        reply["achievement"] = {
            "basis": "yearly targets pro-rated to the period's days",
            "figures": lines,
        }
    reply["suppressed"] = suppressed
    return reply


def within_reach(reporting: Reporting, ctx: QueryContext, site: str, exact: bool) -> None:
    """A payload's ``site`` never widens the subject's: it is the subject's site or one below
    it (``*`` only under the top site, whose tree is every site), else ``forbidden``. Exact
    figures only for a ``centre_manager`` whose token names that site itself; everyone else
    (analysts, a parent site's staff, head office) gets de-identified figures."""
    if ctx.identity is None:
        return
    codes = reporting.organisation.codes()
    if site == ALL:
        widened = not set(codes) <= ctx.sites
    else:
        widened = site in codes and site not in ctx.sites
    if widened:
        raise CommandError(
            "forbidden",
            f"site {site} is not {ctx.site} or a site below it: ask under its own subject",
            site=f"outside {ctx.site}",
        )
    if exact and site != ALL:
        manager = ctx.identity.holds("centre_manager") and names_site(ctx.identity, site)
        if not manager:
            raise CommandError(
                "forbidden",
                f"exact figures of {site} are for a centre_manager of {site} only",
                exact="de-identified only",
            )


async def summary(q: Summary, ctx: QueryContext, *, reporting: Reporting) -> dict[str, Any]:
    within_reach(reporting, ctx, q.site, q.exact)
    return await summary_of(ctx.conn, reporting, q.site, parse_period(q.period), q.exact, q.by_site)


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
    within_reach(reporting, ctx, q.site, q.exact)
    mode = reporting.mode(q.site, q.exact)
    period = parse_period(q.period)
    reads = Reads(ctx.conn, reporting.sites_of(q.site), period)
    found = await paired(reads, q.instrument)
    sessions = await reads.sessions_attended([p.person_id for p in found])
    types, tags = await reads.programme_kinds()
    overall = {"overall": outcome_stats(instrument, found)}
    works = what_works(instrument, found, sessions, types, tags)
    if mode == "deidentified":
        # The splits add up to the overall number: suppressed together.
        suppressed = deidentify_outcomes(overall["overall"], works)
    else:
        # Exact: a comparison of small groups still says more about people than programmes.
        suppressed = [f"what_works.{path}" for path in deidentify(works)]
    return {
        "instrument": q.instrument,
        "direction": instrument.direction,
        "minimal_change": float(instrument.minimal_change),
        "site": q.site,
        "period": period.as_json(),
        "mode": mode,
        **overall,
        "what_works": works,
        "suppressed": suppressed,
    }


async def person_data(q: PersonDataQuery, ctx: QueryContext) -> dict[str, Any]:
    """Reporting's statistical copy of the person at the site and below it, for an access
    request: ids, codes and dates only (reporting never held names)."""
    return {
        "sites": sorted(ctx.sites),
        **await views.person_data(ctx.conn, q.person_id, sorted(ctx.sites)),
    }
