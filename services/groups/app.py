"""Wiring only: groups' handlers, queries, subscriptions and migrations."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from services.groups import handlers, inbound, queries
from shared.kit import known_people
from shared.kit.bus.consumer import Subscription
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition


def build(settings: Settings) -> ServiceDefinition:
    """Groups for these settings; ``CARENET_COMPLETION_SHARE`` is the share that completes."""
    share = float(os.environ.get("CARENET_COMPLETION_SHARE", "0.75"))
    if not 0 < share <= 1:
        raise ValueError(f"CARENET_COMPLETION_SHARE={share} must be in (0, 1]")
    return ServiceDefinition(
        name="groups",
        migrations=Path(__file__).parent / "migrations",
        commands={
            "create_programme": handlers.create_programme,
            "schedule_session": handlers.schedule_session,
            "cancel_session": handlers.cancel_session,
            "reschedule_session": handlers.reschedule_session,
            "enrol": handlers.enrol,
            "withdraw": handlers.withdraw,
            "record_attendance": handlers.record_attendance,
        },
        queries={
            "programme": queries.programme,
            "roster": queries.roster,
            "completion": partial(queries.completion, required_share=share),
        },
        subscriptions=(
            Subscription(
                name="intake-events",
                source="intake",
                handlers={
                    **known_people.HANDLERS,
                    "intake.case.opened": inbound.on_case_opened,
                    "intake.case.closed": inbound.on_case_closed,
                    "intake.case.transferred": inbound.on_case_transferred,
                },
                batch_size=100,
            ),
        ),
    )
