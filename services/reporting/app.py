"""Wiring only: reporting's subscriptions, queries, command, periodic task and migrations."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from services.reporting import handlers, queries
from services.reporting.domain import site_targets
from shared.agency.instruments import load_instruments
from shared.kit.bus.consumer import Subscription
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition

# Read models take events in batches: one transaction per batch is what makes ingest and
# rebuilds fast (nats-facts.md: ~10x a transaction per event).
BATCH = 300


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number") from exc
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside {low}..{high}")
    return value


def build(settings: Settings) -> ServiceDefinition:
    """Reporting for these settings.

    ``CARENET_PUBLISH_DAY`` (default 5): from that day of a month, once the consumers have
    caught up, last month's summary is published for each served site (0: only on command).
    ``CARENET_REPORTING_INTERVAL_SECONDS`` (default 60): how often that is checked and the
    gauges refreshed. ``CARENET_INSTRUMENTS``: extra instruments.
    """
    extra = os.environ.get("CARENET_INSTRUMENTS")
    reporting = queries.Reporting(
        organisation=settings.organisation,
        instruments=load_instruments(Path(extra) if extra else None),
        served=None if settings.all_sites else settings.sites,
    )
    # Refuse a malformed targets table at start rather than at the first query.
    site_targets(settings.organisation.sites, settings.organisation.codes())
    return ServiceDefinition(
        name="reporting",
        migrations=Path(__file__).parent / "migrations",
        commands={"publish_summary": partial(handlers.publish_summary, reporting=reporting)},
        queries={
            "summary": partial(queries.summary, reporting=reporting),
            "outcomes": partial(queries.outcomes, reporting=reporting),
        },
        subscriptions=tuple(
            Subscription(
                name=f"{source}-events",
                source=source,
                handlers=handlers.handlers_of(source),
                batch_size=BATCH,
            )
            for source in ("intake", "groups", "volunteers")
        ),
        background=(
            handlers.periodic(
                reporting,
                publish_day=_int_env("CARENET_PUBLISH_DAY", 5, 0, 28),
                interval=_int_env("CARENET_REPORTING_INTERVAL_SECONDS", 60, 1, 86400),
            ),
        ),
    )
