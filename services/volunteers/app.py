"""Wiring only: volunteers' handlers, queries, subscriptions and migrations."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from services.volunteers import handlers, inbound, queries
from services.volunteers.domain import TeamRules
from shared.kit import known_people
from shared.kit.bus.consumer import Subscription
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition


def build(settings: Settings) -> ServiceDefinition:
    """Volunteers; team course requirements come from ``[teams.<code>]`` in the sites file."""
    rules = TeamRules.from_organisation(settings.organisation.model_extra)
    return ServiceDefinition(
        name="volunteers",
        migrations=Path(__file__).parent / "migrations",
        commands={
            "register_volunteer": handlers.register_volunteer,
            "join_team": handlers.join_team,
            "record_training": partial(handlers.record_training, rules=rules),
            "set_availability": handlers.set_availability,
            "request_volunteers": partial(handlers.request_volunteers, rules=rules),
            "confirm_assignment": handlers.confirm_assignment,
            "decline_assignment": partial(handlers.decline_assignment, rules=rules),
            "log_hours": handlers.log_hours,
            "start_peer_match": partial(handlers.start_peer_match, rules=rules),
            "log_peer_contact": handlers.log_peer_contact,
            "end_peer_match": handlers.end_peer_match,
        },
        queries={
            "volunteer": partial(queries.volunteer, rules=rules),
            "hours": queries.hours,
            "recognition": queries.recognition,
            "assignments": queries.assignments,
        },
        subscriptions=(
            Subscription(
                name="intake-events",
                source="intake",
                handlers={
                    **known_people.HANDLERS,
                    "intake.consent.recorded": inbound.on_consent_recorded,
                    "intake.carer.linked": inbound.on_carer_linked,
                },
                batch_size=100,
            ),
            Subscription(
                name="groups-events",
                source="groups",
                handlers={
                    "groups.session.scheduled": inbound.on_session_scheduled,
                    "groups.session.cancelled": inbound.on_session_cancelled,
                },
                batch_size=100,
            ),
        ),
    )
