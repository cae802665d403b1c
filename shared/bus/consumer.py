"""Idempotent event consumers on durable pull subscriptions.

Each fetched batch is applied in one transaction: the inbox claim, the handlers' effects and
any events they record commit together, and only then are the messages acknowledged. A batch
that fails is retried one message at a time so one bad message cannot hold back the rest:
a message that cannot be parsed or validated goes to ``DLQ`` at once; one whose handler keeps
failing goes there after ``max_deliver`` attempts. While the database is out of reach nothing
is acknowledged, rejected or dead-lettered: the consumer waits and tries the same batch again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from shared import faults
from shared.bus.dead_letters import dead_letter
from shared.bus.inbox import claim
from shared.bus.streams import stream_name
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.envelope import EventEnvelope
from shared.db.pool import INFRASTRUCTURE_ERRORS
from shared.db.uow import Cause, UnitOfWork
from shared.observability import logging as carenet_logging
from shared.observability.metrics import HANDLER_SECONDS, MESSAGES

log = logging.getLogger("carenet.consumer")

EventHandler = Callable[[UnitOfWork, EventEnvelope, Any], Awaitable[None]]


class Unprocessable(Exception):
    """Raised by a handler for an event that can never be applied: straight to ``DLQ``."""


@dataclass(frozen=True)
class Subscription:
    """What a service consumes: one source service's stream, and a handler per event type.

    ``batch_size`` above 1 applies that many events per transaction (for read models).
    """

    name: str
    source: str
    handlers: dict[str, EventHandler]
    batch_size: int = 1

    def __post_init__(self) -> None:
        unknown = [t for t in self.handlers if t not in CATALOGUE.events]
        if unknown:
            raise ValueError(f"{self.name}: no such event type(s) {', '.join(unknown)}")


@dataclass
class _Parsed:
    msg: Msg
    envelope: EventEnvelope
    data: Any


@dataclass
class EventConsumer:
    """Runs one ``Subscription`` for one service instance."""

    subscription: Subscription
    service: str
    schema: str
    pool: asyncpg.Pool
    zone: ZoneInfo
    sites: tuple[str, ...] | None
    """The sites served, or None for every site."""
    max_deliver: int = 5
    ack_wait: float = 30.0
    running: bool = field(default=False, init=False)
    last_error: str | None = field(default=None, init=False)
    _nats: NatsClient | None = field(default=None, init=False)

    @property
    def durable(self) -> str:
        base = f"{self.service}_{self.subscription.name}"
        return base if self.sites is None else f"{base}_{'_'.join(sorted(self.sites))}"

    @property
    def stream(self) -> str:
        return stream_name(self.subscription.source)

    @property
    def filter_subjects(self) -> list[str]:
        source = self.subscription.source
        if self.sites is None:
            return [f"evt.*.{source}.>"]
        return [f"evt.{site}.{source}.>" for site in sorted(self.sites)]

    def consumer_config(self) -> ConsumerConfig:
        filters = self.filter_subjects
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=JsAckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            # Dead-lettering is decided here, from the delivery count; the server's own
            # limit is only a backstop for messages that crash the process every time.
            max_deliver=self.max_deliver + 5,
            max_ack_pending=max(1000, self.subscription.batch_size * 4),
            filter_subjects=filters if len(filters) > 1 else None,
            filter_subject=filters[0] if len(filters) == 1 else None,
        )

    async def run(self, nats: NatsClient) -> None:
        """Fetch and apply batches until cancelled, surviving broker and database outages.

        The fetch loop is ours rather than FastStream's batch subscriber: in faststream 0.7.8
        that loop catches ``nats.errors.TimeoutError`` while nats-py 2.16 can raise a bare
        ``asyncio.TimeoutError`` from ``fetch``; the loop then dies, drops what it had fetched,
        and those messages come back only after ``ack_wait``.
        """
        self._nats = nats
        js = nats.jetstream()
        backoff = 0.2
        while True:
            try:
                await js.add_consumer(self.stream, self.consumer_config())
                pull = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
                self.running = True
                backoff = 0.2
                try:
                    while True:
                        try:
                            messages = await pull.fetch(self.subscription.batch_size, timeout=1.0)
                        except TimeoutError:  # nats' own and asyncio's: nothing arrived in time
                            continue
                        await self.handle_batch(messages)
                finally:
                    # A fetch cut short leaves replies queued on the subscription; left
                    # subscribed, the broker's drain at shutdown waits for them until it times out.
                    with contextlib.suppress(Exception):
                        await pull.unsubscribe()
            except asyncio.CancelledError:
                self.running = False
                raise
            except Exception as exc:  # noqa: BLE001 - NATS away: unacked work is redelivered
                self.running = False
                self.last_error = f"consumer paused: {exc!r}"
                log.warning("consumer %s paused: %s", self.durable, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def handle_batch(self, messages: list[Msg]) -> None:
        assert self._nats is not None
        js = self._nats.jetstream()
        parsed: list[_Parsed] = []
        for msg in messages:
            item = await self._parse(js, msg)
            if item is not None:
                parsed.append(item)
        if not parsed:
            return
        if len(parsed) == 1:
            await self._apply_alone(js, parsed[0])
            return
        started = time.perf_counter()
        try:
            await self._with_database(lambda: self._apply(parsed), parsed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the bad one below
            log.warning("batch failed, applying one by one: %s", exc)
            for item in parsed:
                await self._apply_alone(js, item)
            return
        faults.crash_point("consumer.after_commit")
        for item in parsed:
            await item.msg.ack()
        HANDLER_SECONDS.labels(self.service, "event", self.subscription.name).observe(
            time.perf_counter() - started
        )

    async def _parse(self, js: Any, msg: Msg) -> _Parsed | None:
        deliveries = msg.metadata.num_delivered
        if deliveries > self.max_deliver:
            # Every earlier attempt ended without an ack or a nak: the handler crashed the
            # process or outran ack_wait. Running it again could crash us again.
            await self._dead_letter(
                js,
                msg,
                f"delivered {deliveries} times without completing: the handler crashed the "
                "process or ran longer than ack_wait",
                "abandoned",
            )
            return None
        try:
            envelope = EventEnvelope.model_validate(json.loads(msg.data))
        except (ValueError, ValidationError) as exc:
            await self._dead_letter(js, msg, f"unparseable event: {exc}", "unparseable")
            return None
        handler = self.subscription.handlers.get(envelope.type)
        if handler is None or (self.sites is not None and envelope.site not in self.sites):
            MESSAGES.labels(self.service, "event", envelope.type, "ignored").inc()
            await msg.ack()
            return None
        try:
            data = CATALOGUE.event_model(envelope.type).model_validate(envelope.data)
        except ValidationError as exc:
            await self._dead_letter(js, msg, f"invalid {envelope.type} data: {exc}", "invalid")
            return None
        return _Parsed(msg, envelope, data)

    async def _apply(self, batch: list[_Parsed]) -> None:
        """Apply a batch in one transaction; events already in the inbox are skipped."""
        first = batch[0].envelope
        async with UnitOfWork(self.pool, self.service, self.schema, first.site, self.zone) as uow:
            fresh = await claim(uow.conn, self.durable, list({i.envelope.id: 0 for i in batch}))
            for item in batch:
                event = item.envelope
                if event.id not in fresh:
                    MESSAGES.labels(self.service, "event", event.type, "duplicate").inc()
                    continue
                fresh.discard(event.id)
                uow.site = event.site
                uow.cause = Cause(
                    correlation_id=event.correlation_id or str(event.id),
                    causation_id=str(event.id),
                )
                token = carenet_logging.event_id.set(str(event.id))
                try:
                    await self.subscription.handlers[event.type](uow, event, item.data)
                finally:
                    carenet_logging.event_id.reset(token)
            await uow.commit()
        for item in batch:
            MESSAGES.labels(self.service, "event", item.envelope.type, "handled").inc()

    async def _apply_alone(self, js: Any, item: _Parsed) -> None:
        try:
            await self._with_database(lambda: self._apply([item]), [item])
        except asyncio.CancelledError:
            raise
        except Unprocessable as exc:
            await self._dead_letter(js, item.msg, str(exc), "unprocessable")
            return
        except Exception as exc:
            self.last_error = repr(exc)
            MESSAGES.labels(self.service, "event", item.envelope.type, "failed").inc()
            deliveries = item.msg.metadata.num_delivered
            log.exception(
                "event handler failed",
                extra={"event_type": item.envelope.type, "deliveries": deliveries},
            )
            if deliveries >= self.max_deliver:
                await self._dead_letter(
                    js, item.msg, f"failed {deliveries} times: {exc!r}", "failed"
                )
            else:
                await item.msg.nak(delay=min(2 ** (deliveries - 1), 30))
            return
        faults.crash_point("consumer.after_commit")
        await item.msg.ack()

    async def _with_database(
        self, work: Callable[[], Awaitable[None]], batch: list[_Parsed]
    ) -> None:
        """Retry ``work`` for as long as the database is out of reach, keeping the messages."""
        backoff = 0.2
        while True:
            try:
                await work()
                self.last_error = None
                return
            except INFRASTRUCTURE_ERRORS as exc:
                self.last_error = f"database unavailable: {exc!r}"
                log.warning("consumer %s waiting for the database: %s", self.durable, exc)
                for item in batch:
                    try:
                        await item.msg.in_progress()
                    except Exception:  # noqa: BLE001 - NATS may be down too; redelivery covers it
                        pass
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _dead_letter(self, js: Any, msg: Msg, reason: str, kind: str) -> None:
        await dead_letter(
            js, msg, service=self.service, consumer=self.subscription.name, reason=reason, kind=kind
        )
        await msg.ack()

    @property
    def healthy(self) -> bool:
        """Fetching and applying, with no error outstanding."""
        return self.running and self.last_error is None
