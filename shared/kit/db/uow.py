"""The unit of work: one transaction for a state change and the events it causes (outbox).

No unit of work can write an event that could not be published: ``record`` refuses an event
whose serialized envelope is over ``MAX_EVENT_BYTES`` with a ``validation_error``, so the
transaction rolls back and the outbox never holds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel

from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.envelope import EventEnvelope
from shared.kit.contracts.messages import EventData
from shared.kit.contracts.replies import CommandError
from shared.kit.identity.access import Grant, Identity

MAX_EVENT_BYTES = 64 * 1024
"""Largest serialized event envelope ``UnitOfWork.record`` accepts: far below NATS's default
``max_payload`` of 1 MiB, so headers and a JetStream re-publish always fit."""


def outbox_channel(schema: str) -> str:
    return f"carenet_outbox_{schema}"


@dataclass(frozen=True)
class Cause:
    """Why this work happens: the command or event that caused it, for the envelope's ids."""

    correlation_id: str
    causation_id: str | None = None

    @classmethod
    def fresh(cls) -> Cause:
        return cls(correlation_id=str(uuid4()))


@dataclass
class UnitOfWork:
    """Use as ``async with UnitOfWork(...) as uow``; ``await uow.commit()`` keeps the work.

    Handlers load and save through ``uow.conn`` and call ``uow.record(...)`` for each event;
    the events reach the outbox in the same transaction at commit, in the order recorded.
    """

    pool: asyncpg.Pool
    service: str
    schema: str
    site: str
    zone: ZoneInfo
    cause: Cause = field(default_factory=Cause.fresh)
    identity: Identity | None = None
    """Who sent the command this work does (None for work caused by an event)."""
    grant: Grant | None = None
    """What the command was let through with (None for work caused by an event)."""
    token: str | None = None
    """The caller's bearer token, for work that is to ask another service on their behalf
    later (None for work caused by an event)."""
    conn: asyncpg.Connection = field(init=False)
    events: list[EventEnvelope] = field(default_factory=list, init=False)
    _bodies: dict[int, tuple[EventEnvelope, str]] = field(default_factory=dict, init=False)
    """Each recorded envelope (kept, so its ``id()`` stays its own) with its JSON, made once
    when it is recorded (to check its size)."""
    _transaction: Any = field(default=None, init=False)
    _committed: bool = field(default=False, init=False)
    before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list, init=False)
    """Work deferred to the end of the transaction (e.g. rows gathered for one executemany)."""
    shared: dict[str, Any] = field(default_factory=dict, init=False)
    """State the handlers of one transaction (one batch of events) may share."""
    then: list[Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = field(
        default_factory=list, init=False
    )
    """A command's follow-ups, run after its commit with its connection released: each takes
    the result and gives the one to answer with (say, once a handoff it started is answered).
    A repeat of the command still gets the result as committed."""

    async def __aenter__(self) -> UnitOfWork:
        self.conn = await self.pool.acquire()
        try:
            self._transaction = self.conn.transaction()
            await self._transaction.start()
        except BaseException:
            await self.pool.release(self.conn)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._transaction is not None:
                try:
                    await self._transaction.rollback()
                except Exception:  # noqa: BLE001 - the connection is gone; nothing to undo
                    pass
        finally:
            await self.pool.release(self.conn)

    @property
    def today(self) -> date:
        """Today in the organisation's time zone: the default business date."""
        return datetime.now(self.zone).date()

    def business_date(self, on: date | None) -> date:
        """The date reporting counts by: ``on`` if given (never in the future), else today."""
        today = self.today
        if on is None:
            return today
        if on > today:
            raise CommandError(
                "validation_error", "a business date cannot be in the future", on="in the future"
            )
        return on

    def record(
        self,
        data: EventData,
        *,
        subject: UUID | str,
        site: str | None = None,
    ) -> EventEnvelope:
        """Append an event about entity ``subject``; it is published only if this work commits."""
        spec = next(
            (s for s in CATALOGUE.events.values() if s.model is type(data)),
            None,
        )
        if spec is None:
            raise LookupError(f"{type(data).__name__} is not a registered event payload")
        event_site = site or self.site
        envelope = EventEnvelope(
            type=spec.event_type,
            version=spec.version,
            source=f"{self.service}/{event_site}",
            site=event_site,
            time=datetime.now(UTC),
            subject=str(subject),
            correlation_id=self.cause.correlation_id,
            causation_id=self.cause.causation_id,
            data=data.model_dump(mode="json"),
        )
        body = envelope.model_dump_json()
        size = len(body.encode())
        if size > MAX_EVENT_BYTES:
            raise CommandError(
                "validation_error",
                f"the {spec.event_type} event this would record is {size} bytes, over the "
                f"{MAX_EVENT_BYTES}-byte limit of an event; send less text or fewer items",
            )
        self.events.append(envelope)
        self._bodies[id(envelope)] = (envelope, body)
        return envelope

    def _body(self, envelope: EventEnvelope) -> str:
        kept = self._bodies.get(id(envelope))
        return kept[1] if kept is not None and kept[0] is envelope else envelope.model_dump_json()

    async def commit(self, *, reply: CommandReply | None = None) -> None:
        """Keep the work: deferred work, then ``reply`` stored in the command log, the events
        in the outbox and the relay's wake-up in one statement, then COMMIT."""
        for deferred in self.before_commit:
            await deferred()
        if self.events or reply is not None:
            # Looked up by identity: a handler may have taken an event back out of ``events``.
            bodies = [self._body(e) for e in self.events]
            await write_outbox(self.conn, self.schema, self.events, reply=reply, bodies=bodies)
        await self._transaction.commit()
        self._committed = True


@dataclass(frozen=True)
class CommandReply:
    """The reply a command's repeats get, stored with the command's own work."""

    command_id: UUID
    reply: dict[str, Any]


# One statement each, so a command's reply, its events and the relay's wake-up cost one round
# trip. Data-modifying WITH clauses always run to completion; NOTIFY is delivered at commit.
_EVENTS = """WITH written AS (
    INSERT INTO outbox (event_id, subject, body)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]))
SELECT pg_notify($4, '')"""
_EVENTS_AND_REPLY = """WITH written AS (
    INSERT INTO outbox (event_id, subject, body)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])),
answered AS (UPDATE command_log SET reply = $6 WHERE command_id = $5)
SELECT pg_notify($4, '')"""
_REPLY = "UPDATE command_log SET reply = $2 WHERE command_id = $1"


async def write_outbox(
    conn: asyncpg.Connection,
    schema: str,
    events: list[EventEnvelope] | list[BaseModel],
    *,
    reply: CommandReply | None = None,
    bodies: list[str] | None = None,
) -> None:
    """Insert events into the outbox and wake the relay (NOTIFY is delivered at commit), and
    store ``reply`` in the command log, in one statement. ``bodies``: the events' envelopes
    already serialized, in the same order."""
    envelopes = [e for e in events if isinstance(e, EventEnvelope)]
    if not envelopes:
        if reply is not None:
            await conn.execute(_REPLY, reply.command_id, reply.reply)
        return
    columns = (
        [e.id for e in envelopes],
        [e.nats_subject for e in envelopes],
        bodies if bodies is not None else [e.model_dump_json() for e in envelopes],
        outbox_channel(schema),
    )
    if reply is None:
        await conn.execute(_EVENTS, *columns)
    else:
        await conn.execute(_EVENTS_AND_REPLY, *columns, reply.command_id, reply.reply)
