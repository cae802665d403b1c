"""Reporting's background task: publish last month's summaries when due, refresh the gauges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Gauge

from services.reporting.domain import Reporting, due_month, month_period
from services.reporting.figures import HEADLINE, every_figure
from services.reporting.handlers import publish_month
from services.reporting.views import Reads
from shared.kit.bus.hub import stream_sources
from shared.kit.db.uow import UnitOfWork
from shared.kit.service import ServiceRuntime

log = logging.getLogger("carenet.reporting")

MONTH_FIGURE = Gauge(
    "carenet_reporting_month_figure",
    "This month's headline figures per site (exact; children included), from the read models.",
    ["site", "figure"],
)


async def sites_behind(runtime: ServiceRuntime) -> set[str] | None:
    """The sites whose events reporting has not all applied yet: None when its own consumers
    are behind (every site); else, at a hub, the sites a source of a consumed stream carries
    while that source is not current (not active, or lag > 0: the hub lacks some of the
    site's events). A source from a domain the sites file does not know holds back every site.
    Empty: caught up."""
    # A replica in standby reads the shared durables' state as well as their leader does.
    if runtime.broker is None or not all(c.healthy for c in runtime.consumers):
        return None
    nc = runtime.broker.connection
    js = nc.jetstream()
    for consumer in runtime.consumers:
        info = await js.consumer_info(consumer.stream, consumer.durable)
        if info.num_pending or info.num_ack_pending:
            return None
    organisation = runtime.settings.organisation
    behind: set[str] = set()
    for stream in sorted({c.stream for c in runtime.consumers}):
        for source in await stream_sources(nc, stream):
            if source.current:
                continue
            try:
                behind.update(organisation.served_by_deployment(source.site or ""))
            except (KeyError, ValueError):
                behind.update(organisation.codes())
    return behind


async def caught_up(runtime: ServiceRuntime, site: str | None = None) -> bool:
    """Whether reporting has applied every event of ``site`` and the sites below it (None:
    of every site): a summary published while reporting is still reading a backlog (a new
    install, after an outage) or while a hub still lacks a site's events would be short."""
    behind = await sites_behind(runtime)
    if behind is None:
        return False
    if site is None:
        return not behind
    return not behind.intersection(runtime.settings.organisation.with_descendants(site))


async def publish_due(runtime: ServiceRuntime, reporting: Reporting, publish_day: int) -> int:
    """Publish last month's summary of every served site not yet published whose events are
    all in (at a hub, a site whose link is down waits, and so do the sites above it); how
    many."""
    assert runtime.pool is not None
    organisation = runtime.settings.organisation
    zone = organisation.zone
    month = due_month(datetime.now(zone).date(), publish_day)
    if month is None:
        return 0
    behind = await sites_behind(runtime)
    if behind is None:
        return 0
    published = 0
    for site in runtime.settings.sites:
        if behind.intersection(organisation.with_descendants(site)):
            continue
        async with UnitOfWork(runtime.pool, "reporting", "reporting", site, zone) as uow:
            result = await publish_month(uow, reporting, site, month)
            await uow.commit()
        if result["published"]:
            published += 1
            log.info("published the %s summary of %s", result["month"], site)
    if behind:
        log.debug("waiting for the events of %s before publishing their summaries", sorted(behind))
    return published


async def refresh_gauges(runtime: ServiceRuntime, reporting: Reporting) -> None:
    assert runtime.pool is not None
    month = month_period(datetime.now(runtime.settings.organisation.zone).date())
    async with runtime.pool.acquire() as conn:
        for site in runtime.settings.sites:
            reads = Reads(conn, reporting.sites_of(site), month)
            figures = await every_figure(reads, reporting.instruments)
            for name in HEADLINE:
                MONTH_FIGURE.labels(site, name).set(figures[name]["total"])


def periodic(
    reporting: Reporting, *, publish_day: int, interval: float
) -> Callable[[ServiceRuntime], Coroutine[Any, Any, None]]:
    """The service's background task: publish closed months when due, refresh the gauges."""

    async def reporting_periodic(runtime: ServiceRuntime) -> None:
        while True:
            try:
                await publish_due(runtime, reporting, publish_day)
                await refresh_gauges(runtime, reporting)
            except asyncio.CancelledError:
                raise
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("periodic reporting work failed, will retry: %s", exc)
            except Exception:
                log.exception("periodic reporting work failed, will retry")
            await asyncio.sleep(interval)

    return reporting_periodic
