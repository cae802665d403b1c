"""The event envelope of docs/contract.md (CloudEvents' attribute names) and event subjects."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from shared.agency.sites import SITE_CODE

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class EventEnvelope(BaseModel):
    """One event as it travels on ``evt.<site>.<service>.<entity>.<verb>``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: UUID = Field(default_factory=uuid4, description="Also sent as the Nats-Msg-Id header.")
    type: str = Field(pattern=EVENT_TYPE.pattern, examples=["intake.case.opened"])
    version: int = Field(default=1, ge=1)
    source: str = Field(description="<service>/<site>")
    site: str = Field(pattern=SITE_CODE.pattern)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str = Field(description="Id of the entity the event is about.")
    correlation_id: str | None = None
    causation_id: str | None = None
    data: dict[str, Any]

    @property
    def service(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def nats_subject(self) -> str:
        return event_subject(self.site, self.type)


def event_subject(site: str, event_type: str) -> str:
    """``evt.<site>.<service>.<entity>.<verb>`` for an event type ``<service>.<entity>.<verb>``."""
    if not SITE_CODE.match(site):
        raise ValueError(f"invalid site code {site!r}")
    if not EVENT_TYPE.match(event_type):
        raise ValueError(f"invalid event type {event_type!r}")
    return f"evt.{site}.{event_type}"


def command_subject(site: str, service: str, name: str) -> str:
    return f"cmd.{site}.{service}.{name}"


def query_subject(site: str, service: str, name: str) -> str:
    return f"qry.{site}.{service}.{name}"
