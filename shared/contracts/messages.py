"""Base models for what crosses a service boundary."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """Strict boundary model: unknown fields are refused, so typos are not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Command(Message):
    """Every command carries its idempotency key and who is acting."""

    command_id: UUID = Field(description="Idempotency key: a repeat returns the first reply.")
    actor: str = Field(min_length=1, max_length=64, description="Staff or volunteer id acting.")


class BusinessCommand(Command):
    """A command that records something that happened on a business date."""

    on: date | None = Field(
        default=None,
        description="Business date reporting counts by; default today in the organisation's zone.",
    )


class Query(Message):
    """A read request; queries change nothing and need no idempotency key."""

    actor: str | None = Field(default=None, max_length=64)


class EventData(BaseModel):
    """The typed payload of an event. Consumers ignore fields they do not know."""

    model_config = ConfigDict(extra="ignore", frozen=True)
