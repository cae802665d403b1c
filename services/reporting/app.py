"""Wiring only: reporting's subscriptions, queries, command, periodic task and migrations."""

from __future__ import annotations

from pathlib import Path

from services.reporting import handlers, inbound, periodic, queries
from services.reporting.domain import Reporting, site_targets
from shared.agency.instruments import load_instruments
from shared.kit.bus.consumer import Subscription
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition, catalogued

# Read models take events in batches: one transaction per batch is what makes ingest and
# rebuilds fast (docs/bus-facts.md: ~10x a transaction per event).
BATCH = 300


def build(settings: Settings) -> ServiceDefinition:
    """Reporting for these settings.

    ``CARENET_PUBLISH_DAY`` (default 5): from that day of a month, once the consumers have
    caught up, last month's summary is published for each served site (0: only on command).
    ``CARENET_REPORTING_INTERVAL_SECONDS`` (default 60): how often that is checked and the
    gauges refreshed. ``CARENET_INSTRUMENTS``: extra instruments.
    """
    reporting = Reporting(
        organisation=settings.organisation,
        instruments=load_instruments(settings.path("CARENET_INSTRUMENTS")),
        served=None if settings.all_sites else settings.sites,
    )
    # Refuse a malformed targets table at start rather than at the first query.
    site_targets(settings.organisation.sites, settings.organisation.codes())
    return ServiceDefinition(
        name="reporting",
        migrations=Path(__file__).parent / "migrations",
        commands=catalogued("reporting", handlers, reporting=reporting),
        queries=catalogued("reporting", queries, queries=True, reporting=reporting),
        subscriptions=tuple(
            Subscription.to(
                source,
                inbound.handlers_of(source),
                batch_size=BATCH,
            )
            for source in ("intake", "groups", "volunteers")
        ),
        background=(
            periodic.periodic(
                reporting,
                publish_day=settings.integer("CARENET_PUBLISH_DAY", 5, 0, 28),
                interval=settings.integer("CARENET_REPORTING_INTERVAL_SECONDS", 60, 1, 86400),
            ),
        ),
    )
