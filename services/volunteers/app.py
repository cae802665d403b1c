"""Wiring only: volunteers' handlers, queries, subscriptions and migrations."""

from __future__ import annotations

from pathlib import Path

from services.volunteers import handlers, inbound, queries
from services.volunteers.domain import TeamRules
from shared.kit import known_people
from shared.kit.bus.consumer import Subscription
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition, catalogued


def build(settings: Settings) -> ServiceDefinition:
    """Volunteers; team course requirements come from ``[teams.<code>]`` in the sites file."""
    rules = TeamRules.from_organisation(settings.organisation.model_extra)
    return ServiceDefinition(
        name="volunteers",
        migrations=Path(__file__).parent / "migrations",
        commands=catalogued(
            "volunteers", handlers, rules=rules, organisation=settings.organisation
        ),
        queries=catalogued("volunteers", queries, queries=True, rules=rules),
        subscriptions=(
            Subscription.to(
                "intake",
                known_people.handlers(
                    {
                        "intake.consent.recorded": inbound.on_consent_recorded,
                        "intake.carer.linked": inbound.on_carer_linked,
                        "intake.person.merged": inbound.on_person_merged,
                        "intake.person.erased": inbound.on_person_erased,
                    }
                ),
                batch_size=100,
            ),
            Subscription.to(
                "groups",
                {
                    "groups.session.scheduled": inbound.on_session_scheduled,
                    "groups.session.cancelled": inbound.on_session_cancelled,
                },
                batch_size=100,
            ),
        ),
    )
