"""Wiring only: intake's handlers, queries and migrations as a ServiceDefinition."""

from __future__ import annotations

from pathlib import Path

from services.intake import handlers, queries
from shared.agency.instruments import load_instruments
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition, catalogued


def build(settings: Settings) -> ServiceDefinition:
    """Intake for these settings; ``CARENET_INSTRUMENTS`` adds the agency's own instruments,
    ``CARENET_URGENT_REFERRAL_DAYS`` (0..365, as a ``referrals_overdue`` query may ask) is how
    long an urgent referral may wait undecided."""
    instruments = load_instruments(settings.path("CARENET_INSTRUMENTS"))
    overdue_days = settings.integer("CARENET_URGENT_REFERRAL_DAYS", 2, 0, 365)
    return ServiceDefinition(
        name="intake",
        migrations=Path(__file__).parent / "migrations",
        commands=catalogued(
            "intake", handlers, organisation=settings.organisation, instruments=instruments
        ),
        queries=catalogued("intake", queries, queries=True, default_days=overdue_days),
    )
