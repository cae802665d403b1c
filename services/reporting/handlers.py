"""Reporting's one command, ``publish_summary``: a closed month's de-identified summary of a
site, published once per site and month (the periodic task in ``periodic.py`` uses it too)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.reporting import store
from services.reporting.domain import Period, Reporting, closed_month
from services.reporting.figures import every_figure, hours_contributors
from services.reporting.suppression import suppress
from services.reporting.views import Reads
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.reporting import PublishSummary, SummaryPublished
from shared.kit.db.uow import UnitOfWork


def family_root(reporting: Reporting, site: str) -> str:
    """The highest site above ``site`` (or itself) whose figures this instance can give."""
    root = site
    for above in reporting.organisation.with_ancestors(site)[1:]:
        try:
            reporting.sites_of(above)
        except CommandError:
            break
        root = above
    return root


async def published_figures(
    conn: asyncpg.Connection, reporting: Reporting, site: str, month: Period
) -> tuple[dict[str, Any], list[str]]:
    """A site's month, suppressed jointly with every summary of its family (the sites under
    the highest site served, each with its children; and what each does itself, which a
    parent's summary less its children's would give away): each published summary of a
    month is the same cut of one joint suppression, so reading a parent's beside its
    children's gives nothing more away (unless a late entry changed the month in between)."""
    reporting.sites_of(site)
    organisation = reporting.organisation
    tables: dict[str, dict[str, Any]] = {}
    people: dict[str, dict[str, int]] = {}
    sums: list[tuple[str, list[str]]] = []
    for code in organisation.with_descendants(family_root(reporting, site)):
        children = [s.code for s in organisation.sites if s.parent == code]
        for prefix, sites in ((f"tree.{code}", reporting.sites_of(code)),) + (
            ((f"own.{code}", [code]),) if children else ()
        ):
            reads = Reads(conn, sites, month)
            tables[prefix] = await every_figure(reads, reporting.instruments)
            people[prefix] = await hours_contributors(reads)
        if children:
            sums.append((f"tree.{code}", [f"own.{code}", *(f"tree.{c}" for c in children)]))
    hidden = suppress(tables, people, sums)
    mine = f"tree.{site}."
    return tables[f"tree.{site}"], [p[len(mine) :] for p in hidden if p.startswith(mine)]


async def publish_month(
    uow: UnitOfWork, reporting: Reporting, site: str, month: Period
) -> dict[str, Any]:
    """Record ``summary.published`` for a site's month unless it already was (any replica)."""
    existing = await store.published_summary(uow.conn, site, month.start)
    if existing is not None:
        return {"published": False, "event_id": str(existing), "month": month.month}
    figures, suppressed = await published_figures(uow.conn, reporting, site, month)
    envelope = uow.record(
        SummaryPublished(
            month=month.month,
            period_from=month.start,
            period_to=month.end,
            mode="deidentified",
            figures=figures,
            suppressed=suppressed,
            published_on=uow.today,
        ),
        subject=f"{site}/{month.month}",
        site=site,
    )
    if not await store.record_published(uow.conn, site, month.start, envelope.id):
        # Another replica published it between our check and now: keep theirs only.
        uow.events.remove(envelope)
        return {"published": False, "event_id": None, "month": month.month}
    return {"published": True, "event_id": str(envelope.id), "month": month.month}


async def publish_summary(
    cmd: PublishSummary, uow: UnitOfWork, *, reporting: Reporting
) -> dict[str, Any]:
    return await publish_month(uow, reporting, uow.site, closed_month(cmd.month, uow.today))
