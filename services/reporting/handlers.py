"""Reporting's event handlers, its one command, and its periodic work.

Event handlers gather ``store.APPLY``'s upserts for the batch and write them at its commit,
holding the rebuild lock in shared mode, so a ``carenet reporting rebuild`` (which holds it
exclusively for its one transaction) and the live consumers never interleave: the consumers
wait, then carry on from where they were.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from typing import Any

import asyncpg
from prometheus_client import Gauge

from services.reporting import store
from services.reporting.domain import Period, deidentify, month_period, previous_month
from services.reporting.figures import HEADLINE, Figures
from services.reporting.queries import Reporting
from shared.kit.bus.consumer import EventHandler
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.reporting import PublishSummary, SummaryPublished
from shared.kit.db.uow import UnitOfWork
from shared.kit.service import ServiceRuntime

log = logging.getLogger("carenet.reporting")

# The advisory lock a rebuild holds exclusively and every consumer transaction shares.
REBUILD_LOCK = zlib.crc32(b"carenet.reporting.rebuild")

MONTH_FIGURE = Gauge(
    "carenet_reporting_month_figure",
    "This month's headline figures per site (exact; children included), from the read models.",
    ["site", "figure"],
)


def _rows_of(uow: UnitOfWork) -> store.Rows:
    """The batch's pending upserts, written just before the batch's transaction commits."""
    rows: store.Rows | None = uow.shared.get("reporting_rows")
    if rows is None:
        rows = uow.shared["reporting_rows"] = store.Rows()
        pending = rows

        async def flush() -> None:
            # A rebuild holds the lock for as long as it takes; short tries keep each statement
            # far inside the pool's command timeout, so waiting never counts as a failure.
            lock = "SELECT pg_try_advisory_xact_lock_shared($1)"
            while True:
                if await uow.conn.fetchval(lock, REBUILD_LOCK):
                    break
                await asyncio.sleep(0.1)
            await pending.flush(uow.conn)

        uow.before_commit.append(flush)
    return rows


def handler(apply: store.Apply) -> EventHandler:
    async def handle(uow: UnitOfWork, event: EventEnvelope, data: Any) -> None:
        _rows_of(uow).add(apply(event, data))

    handle.__name__ = f"on_{apply.__name__}"
    return handle


def handlers_of(source: str) -> dict[str, EventHandler]:
    return {event_type: handler(apply) for event_type, apply in store.APPLY[source].items()}


# --- published summaries --------------------------------------------------------------------


async def publish_month(
    uow: UnitOfWork, reporting: Reporting, site: str, month: Period
) -> dict[str, Any]:
    """Record ``summary.published`` for a site's month unless it already was (any replica)."""
    label = f"{month.start:%Y-%m}"
    existing = await uow.conn.fetchval(
        "SELECT event_id FROM published_summaries WHERE site = $1 AND month = $2",
        site,
        month.start,
    )
    if existing is not None:
        return {"published": False, "event_id": str(existing), "month": label}
    figures = await Figures(uow.conn, reporting.sites_of(site), month, reporting.instruments).all()
    suppressed = deidentify(figures)
    envelope = uow.record(
        SummaryPublished(
            month=month.start.strftime("%Y-%m"),
            period_from=month.start,
            period_to=month.end,
            mode="deidentified",
            figures=figures,
            suppressed=suppressed,
            published_on=uow.today,
        ),
        subject=f"{site}/{label}",
        site=site,
    )
    first = await uow.conn.fetchval(
        """INSERT INTO published_summaries (site, month, event_id) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        site,
        month.start,
        envelope.id,
    )
    if not first:
        # Another replica published it between our check and now: keep theirs only.
        uow.events.remove(envelope)
        return {"published": False, "event_id": None, "month": label}
    return {"published": True, "event_id": str(envelope.id), "month": label}


async def publish_summary(
    cmd: PublishSummary, uow: UnitOfWork, *, reporting: Reporting
) -> dict[str, Any]:
    year, month = (int(part) for part in cmd.month.split("-"))
    period = month_period(date(year, month, 1))
    if period.end >= uow.today:
        raise CommandError("not_allowed", "the month has not closed yet", month="not closed")
    return await publish_month(uow, reporting, uow.site, period)


def due_month(today: date, publish_day: int) -> Period | None:
    """The month to publish on ``today``: last month, from its next month's ``publish_day``
    (0: never by itself, only by the ``publish_summary`` command)."""
    return previous_month(today) if publish_day and today.day >= publish_day else None


async def caught_up(runtime: ServiceRuntime) -> bool:
    """Whether every consumer has applied all its stream holds: a summary published while
    reporting is still reading a backlog (a new install, after an outage) would be short."""
    if runtime.broker is None or not all(c.running for c in runtime.consumers):
        return False
    js = runtime.broker.connection.jetstream()
    for consumer in runtime.consumers:
        info = await js.consumer_info(consumer.stream, consumer.durable)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def publish_due(runtime: ServiceRuntime, reporting: Reporting, publish_day: int) -> int:
    """Publish last month's summary of every served site not yet published; how many."""
    assert runtime.pool is not None
    zone = runtime.settings.organisation.zone
    month = due_month(datetime.now(zone).date(), publish_day)
    if month is None or not await caught_up(runtime):
        return 0
    published = 0
    for site in runtime.settings.sites:
        async with UnitOfWork(runtime.pool, "reporting", "reporting", site, zone) as uow:
            result = await publish_month(uow, reporting, site, month)
            await uow.commit()
        if result["published"]:
            published += 1
            log.info("published the %s summary of %s", result["month"], site)
    return published


async def refresh_gauges(runtime: ServiceRuntime, reporting: Reporting) -> None:
    assert runtime.pool is not None
    month = month_period(datetime.now(runtime.settings.organisation.zone).date())
    async with runtime.pool.acquire() as conn:
        for site in runtime.settings.sites:
            figures = await Figures(
                conn, reporting.sites_of(site), month, reporting.instruments
            ).all()
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
