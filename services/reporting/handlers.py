"""Reporting's one command, ``publish_summary``: a closed month's de-identified summary of a
site, published once per site and month (the periodic task in ``periodic.py`` uses it too)."""

from __future__ import annotations

from typing import Any

from services.reporting import store
from services.reporting.domain import Period, Reporting, closed_month
from services.reporting.figures import every_figure, hours_contributors
from services.reporting.suppression import deidentify
from services.reporting.views import Reads
from shared.kit.contracts.reporting import PublishSummary, SummaryPublished
from shared.kit.db.uow import UnitOfWork


async def publish_month(
    uow: UnitOfWork, reporting: Reporting, site: str, month: Period
) -> dict[str, Any]:
    """Record ``summary.published`` for a site's month unless it already was (any replica)."""
    existing = await store.published_summary(uow.conn, site, month.start)
    if existing is not None:
        return {"published": False, "event_id": str(existing), "month": month.month}
    reads = Reads(uow.conn, reporting.sites_of(site), month)
    figures = await every_figure(reads, reporting.instruments)
    suppressed = deidentify(figures, await hours_contributors(reads))
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
