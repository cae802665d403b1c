"""Wiring only: groups' handlers, queries, subscriptions and migrations."""

from __future__ import annotations

from pathlib import Path

from services.groups import handlers, inbound, queries
from shared.kit import known_people
from shared.kit.bus.consumer import Subscription
from shared.kit.config import ConfigError, Settings
from shared.kit.service import ServiceDefinition, catalogued


def completion_share(settings: Settings) -> float:
    """``CARENET_COMPLETION_SHARE``: the share of held sessions that completes a programme,
    in (0, 1]; 0.75 unless set."""
    share = settings.number("CARENET_COMPLETION_SHARE", 0.75, 0, 1)
    if share == 0:
        raise ConfigError(
            f"CARENET_COMPLETION_SHARE={share}: the share must be above 0 (at most 1)"
        )
    return share


def build(settings: Settings) -> ServiceDefinition:
    """Groups for these settings."""
    return ServiceDefinition(
        name="groups",
        migrations=Path(__file__).parent / "migrations",
        commands=catalogued("groups", handlers, organisation=settings.organisation),
        queries=catalogued(
            "groups", queries, queries=True, required_share=completion_share(settings)
        ),
        subscriptions=(
            Subscription.to(
                "intake",
                known_people.handlers(
                    {
                        "intake.case.opened": inbound.on_case_opened,
                        "intake.case.closed": inbound.on_case_closed,
                        "intake.case.transferred": inbound.on_case_transferred,
                        "intake.person.merged": inbound.on_person_merged,
                        "intake.consent.recorded": inbound.on_consent_recorded,
                    }
                ),
                batch_size=100,
            ),
        ),
    )
