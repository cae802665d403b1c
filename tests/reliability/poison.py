"""Poison events published straight onto the consumed streams, as a broken producer would."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient

# Per stream: an event type its consumers handle, given data they cannot read.
HANDLED_TYPE: dict[str, tuple[str, dict[str, object]]] = {
    "intake": ("intake.person.registered", {"person_id": "not-a-uuid", "roles": 7}),
    "groups": ("groups.session.scheduled", {"session_id": "not-a-uuid"}),
    "volunteers": ("volunteers.hours.logged", {"hours_id": "not-a-uuid", "minutes": "many"}),
}
SKIPPED_BY: dict[str, frozenset[str]] = {"groups": frozenset({"intake"})}
"""Per stream, the consumers that do not handle its chosen type (intake reads only attendance
and enrolments of groups' events): for them the invalid data is an event they skip."""


def least_dead_letters(consumer: str, stream: str, rounds: int) -> int:
    """How many of ``rounds`` of poison a consumer must dead-letter at least: not JSON always,
    invalid data where it handles the type."""
    return rounds if consumer in SKIPPED_BY.get(stream, ()) else 2 * rounds


SITE = "likang"


def _envelope(event_type: str, data: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "type": event_type,
            "version": 1,
            "source": f"{event_type.split('.')[0]}/{SITE}",
            "site": SITE,
            "time": datetime.now(UTC).isoformat(),
            "subject": str(uuid.uuid4()),
            "data": data,
        }
    ).encode()


def poison_messages(service: str) -> list[tuple[str, str, bytes]]:
    """(label, subject, body) of the three poison kinds for one service's stream."""
    event_type, bad_data = HANDLED_TYPE[service]
    unknown = f"{service}.unicorn.sighted"
    return [
        ("not JSON", f"evt.{SITE}.{event_type}", b"\x00{this is not json"),
        ("invalid data", f"evt.{SITE}.{event_type}", _envelope(event_type, bad_data)),
        ("unknown type", f"evt.{SITE}.{unknown}", _envelope(unknown, {"horn": 1})),
    ]


async def inject(nc: NatsClient, rounds: int) -> int:
    """Publish ``rounds`` of every poison kind on every consumed stream; how many were stored."""
    js = nc.jetstream(timeout=10)
    stored = 0
    for _ in range(rounds):
        for service in HANDLED_TYPE:
            for _label, subject, body in poison_messages(service):
                await js.publish(subject, body, headers={"Nats-Msg-Id": f"poison-{uuid.uuid4()}"})
                stored += 1
    return stored
