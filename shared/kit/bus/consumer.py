"""Idempotent event consumers on durable pull subscriptions, applying each stream in order.

What every subscription of a service gets (the README's guarantees say the same):

- **Once in effect.** An event's effect commits with its id in the inbox, in one transaction,
  and the message is acknowledged after that. The inbox is keyed by service and subscription
  (``<service>_<subscription>``), not by the durable consumer, whose name also names the sites
  an instance serves: a redelivery, a replay, a new site list (a new durable that reads history
  from the start) or a replica for every site beside a per-site one applies nothing twice.
- **Stream order.** Of the replicas sharing a durable, one fetches (the leader, elected by a
  PostgreSQL advisory lock: ``shared.kit.db.leader``); the others wait in standby and take
  over when its session ends. ``max_ack_pending`` alone would not do: it bounds the messages
  outstanding, not the batches, so a second replica would be handed the next events while the
  first still works on a batch that was not full. The leader applies one batch at a time, and
  a message whose handler fails is retried in place, with a growing pause; nothing after it is
  applied until it succeeds or is dead-lettered. An instance that binds the durable while
  messages are still unacknowledged (a killed leader's batch, or its own before NATS cut it
  off) waits one ack wait before its first fetch, so those come back, ahead of newer ones.
  The price: replicas sharing a durable do not apply in parallel, and after a leader is
  killed its durable pauses for the ack wait (at most 10 s; the batch in hand is reported in
  progress every third of it, so a long handler or an outage does not lose it). Two durables of
  one subscription (different site lists) each keep stream order; the inbox claim makes one
  wait for the other's transaction on an event they share.
- **Batches.** Messages on their first delivery fetched together are applied in one
  transaction. A lone message, a batch holding a redelivered message and a batch that failed
  are applied one message at a time, in stream order; each such attempt is recorded in
  ``consumer_attempts`` (committed before its handler runs) and the record is deleted in the
  transaction that applies the event.
- **Dead letters** (``DLQ``, ``dlq.<service>.<subscription>``). A message that cannot be parsed
  or validated, or whose handler raises ``Unprocessable``, goes there at once. An event goes
  there when its own recorded attempts, failed or never finished (the handler crashed the
  process, or it was killed), reach ``max_deliver``; it is not run again. A batch of several is
  not an attempt of any of its events, so an event that never started (a batch-mate of a
  crasher) is never dead-lettered: a crasher ends the process once in its batch, then
  ``max_deliver`` times alone.
- **Failures** are told apart by ``shared.kit.db.errors.classify``. While the database is out of
  reach (an outage) the consumer keeps the batch, waits, and acknowledges, dead-letters and
  counts nothing. A deadlock, serialization failure or statement timeout (a collision) is run
  again at once and not counted (after 20 in a row it counts as a failure). Anything else counts,
  including a ``TimeoutError``, ``OSError`` or ``InterfaceError`` a handler raises while the
  database answers. An error of the connection while committing is an outage: the outcome of
  the commit is unknown, and the inbox makes running it again safe.
- **Stop.** ``stop()`` ends fetching and lets the batch in hand finish for up to the graceful
  timeout, then cancels it; an attempt cut short is not counted (its record is deleted, best
  effort), and every message not applied is nak'd for prompt redelivery.
- **Health.** ``healthy`` is true while the consumer is bound to its durable, fetching and
  applying; false while NATS is away, the stream or durable cannot be bound, or the database
  is out of reach (also the ``carenet_consumer_running`` gauge).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from shared.kit import faults
from shared.kit.bus.dead_letters import dead_letter
from shared.kit.bus.inbox import (
    Earlier,
    applied_before,
    attempt_failed,
    begin_attempt,
    claim,
    forget_attempt,
    forget_attempts,
)
from shared.kit.bus.streams import stream_name
from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.envelope import EventEnvelope
from shared.kit.db.errors import Failure, classify, classify_fast
from shared.kit.db.leader import leader_connection, try_lead
from shared.kit.db.uow import Cause, UnitOfWork
from shared.kit.observability import logging as carenet_logging
from shared.kit.observability.metrics import (
    CONSUMER_LEADING,
    CONSUMER_RUNNING,
    HANDLER_SECONDS,
    MESSAGES,
)

log = logging.getLogger("carenet.consumer")

EventHandler = Callable[[UnitOfWork, EventEnvelope, Any], Awaitable[None]]
T = TypeVar("T")

LONGEST_ACK_WAIT = 10.0
"""JetStream's ack wait for our durables, in seconds, at most. The batch in hand is reported
in progress every third of it, so it does not limit how long a handler may run; it is how long
a crashed instance's batch waits before it is delivered again, and (one batch outstanding per
durable) how long the durable pauses after a kill -9."""
SUBSCRIPTION_NAME = re.compile(r"^[a-z][a-z0-9-]{0,60}$")
LEADER_PING_SECONDS = 5.0
"""How often the leader uses its lock's connection (the server ends it after a minute idle)."""
ACK_WAIT_MARGIN = 0.5
"""Added to the ack wait before the first fetch when unacknowledged messages are out."""
COLLISIONS_BEFORE_COUNTING = 20
"""Collisions in a row after which one counts as a failed attempt (a statement that always
times out is the work's fault, not bad luck)."""


class Unprocessable(Exception):
    """Raised by a handler for an event that can never be applied: straight to ``DLQ``."""


def delivery_count(msg: Msg) -> int:
    """How many times JetStream has delivered ``msg``, read from its ack subject alone.

    nats-py's ``msg.metadata`` builds its dataclasses through reflection, which cost about a
    seventh of a batch's apply in a profile; the count is one token of the reply subject
    (``$JS.ACK.<stream>.<consumer>.<delivered>...``, or the longer form with domain and account).
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9 and tokens[:2] == ["$JS", "ACK"]:
        return int(tokens[4])
    if len(tokens) >= 11 and tokens[:2] == ["$JS", "ACK"]:
        return int(tokens[Msg.Ack.NumDelivered])
    return msg.metadata.num_delivered


@dataclass(frozen=True)
class Subscription:
    """What a service consumes: one source service's stream, and a handler per event type.

    ``batch_size`` above 1 applies that many events per transaction (for read models).
    ``awaits_stream`` False: the service starts without waiting for the source's stream (the
    source's service may itself wait for this one's stream: intake reads groups and
    volunteers, which read intake); the consumer binds once the stream exists and counts as
    healthy meanwhile, since a stream not yet created holds nothing to miss.
    """

    name: str
    source: str
    handlers: dict[str, EventHandler]
    batch_size: int = 1
    awaits_stream: bool = True

    def __post_init__(self) -> None:
        # Durable names and inbox keys are "<service>_<subscription>[_<site>...]": a "_" in
        # the subscription's name would make them ambiguous.
        if not SUBSCRIPTION_NAME.match(self.name):
            raise ValueError(f"{self.name!r}: subscription names are lower case words and hyphens")
        unknown = [t for t in self.handlers if t not in CATALOGUE.events]
        if unknown:
            raise ValueError(f"{self.name}: no such event type(s) {', '.join(unknown)}")

    @classmethod
    def to(
        cls,
        source: str,
        handlers: dict[str, EventHandler],
        *,
        batch_size: int = 1,
        awaits_stream: bool = True,
    ) -> Subscription:
        """The subscription to ``source``'s events, named ``<source>-events``."""
        return cls(f"{source}-events", source, handlers, batch_size, awaits_stream)


@dataclass
class _Parsed:
    msg: Msg
    envelope: EventEnvelope
    data: Any


class _LeadLost(Exception):
    """The session holding this instance's leadership of the durable ended."""


class _Stopped(Exception):
    """A stop was asked for while the consumer waited: abandon the batch in hand."""


class _ApplyFailed(Exception):
    """Applying failed with ``error``; where it happened tells an outage from a failure."""

    def __init__(self, error: Exception, *, committing: bool, connection_lost: bool) -> None:
        super().__init__(repr(error))
        self.error = error
        self.committing = committing
        self.connection_lost = connection_lost


@dataclass
class _Batch:
    """The messages in hand, and which of them are done (applied, ignored or dead-lettered)."""

    messages: list[Msg]
    done: set[int] = field(default_factory=set)

    def finish(self, msg: Msg) -> None:
        self.done.add(id(msg))

    def is_done(self, msg: Msg) -> bool:
        return id(msg) in self.done


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
    dsn: str | None = None
    """The database: where the leader's lock is held (``run`` needs it), and asked directly
    whether it answers when an error could be an outage (without it, the pool is asked)."""
    standby_poll: float = 1.0
    """How often a replica in standby asks for the lead."""
    running: bool = field(default=False, init=False)
    """Bound to the durable and fetching (see ``healthy`` for whether it also makes progress)."""
    last_error: str | None = field(default=None, init=False)
    _nats: NatsClient | None = field(default=None, init=False)
    _js: JetStreamContext | None = field(default=None, init=False)
    _paused: str | None = field(default=None, init=False)
    _no_stream: bool = field(default=False, init=False)
    """Waiting for a stream not yet created (a subscription that does not await it)."""
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _leader: asyncpg.Connection | None = field(default=None, init=False)
    """The connection holding the durable's lock while this instance leads it."""
    _standby: bool = field(default=False, init=False)
    _lead_lost: bool = field(default=False, init=False)
    _pinged_at: float = field(default=float("-inf"), init=False)

    @property
    def durable(self) -> str:
        """The durable consumer's name: one per service, subscription and list of sites.

        Kept as it always was, so existing deployments keep their durables (and the NATS
        permissions that name them)."""
        base = f"{self.service}_{self.subscription.name}"
        return base if self.sites is None else f"{base}_{'_'.join(sorted(self.sites))}"

    @property
    def inbox_key(self) -> str:
        """Whose inbox: the service's subscription, whatever sites this instance serves."""
        return f"{self.service}_{self.subscription.name}"

    @property
    def stream(self) -> str:
        return stream_name(self.subscription.source)

    @property
    def filter_subjects(self) -> list[str]:
        source = self.subscription.source
        if self.sites is None:
            return [f"evt.*.{source}.>"]
        return [f"evt.{site}.{source}.>" for site in sorted(self.sites)]

    @property
    def lock(self) -> str:
        """The advisory lock whose holder fetches for the durable."""
        return f"carenet.consumer.{self.schema}.{self.durable}"

    @property
    def leading(self) -> bool:
        return self._leader is not None

    @property
    def healthy(self) -> bool:
        """Leading (bound to its durable and fetching) or in standby, NATS connected, and not
        waiting for the database."""
        connected = self._nats is not None and self._nats.is_connected
        working = self.running or self._standby or self._no_stream
        return working and connected and self._paused is None and not self._stopping.is_set()

    def consumer_config(self) -> ConsumerConfig:
        filters = self.filter_subjects
        return ConsumerConfig(
            # With ``name`` set, nats-py creates it through ``CONSUMER.CREATE.<stream>.<name>.
            # <filter>``: the server can then hold a one-site instance's user to its site's
            # filter (shared.local.nats_users).
            name=self.durable,
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=JsAckPolicy.EXPLICIT,
            ack_wait=min(self.ack_wait, LONGEST_ACK_WAIT),
            # Attempts are counted in the database, per event; a server-side limit would leave
            # a message that reached it neither applied nor dead-lettered (naks at shutdown
            # count as deliveries too).
            max_deliver=-1,
            # One batch outstanding: only the leader fetches (max_ack_pending alone would let
            # a second fetcher take the next events while a batch that was not full is applied).
            max_ack_pending=self.subscription.batch_size,
            filter_subjects=filters if len(filters) > 1 else None,
            filter_subject=filters[0] if len(filters) == 1 else None,
        )

    async def run(self, nats: NatsClient) -> None:
        """Fetch and apply batches until stopped or cancelled, surviving NATS and database
        outages.

        The fetch loop is ours rather than FastStream's batch subscriber: in faststream 0.7.8
        that loop catches ``nats.errors.TimeoutError`` while nats-py 2.16 can raise a bare
        ``asyncio.TimeoutError`` from ``fetch``; the loop then dies, drops what it had fetched,
        and those messages come back only after ``ack_wait``.
        """
        if self.dsn is None:
            raise ValueError(f"{self.durable}: a running consumer needs the database's dsn")
        self._nats = nats
        self._js = js = nats.jetstream()  # one context per run, not one per batch
        self._task = asyncio.current_task()
        backoff = 0.2
        try:
            while not self._stopping.is_set():
                if self._leader is None and not await self._lead(self.dsn):
                    break
                try:
                    await js.add_consumer(self.stream, self.consumer_config())
                    pull = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
                except NotFoundError as exc:
                    if self.subscription.awaits_stream:
                        self._pause_for_nats(exc)
                    else:
                        self._wait_for_stream()
                    await self._sleep_unless_stopping(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                except Exception as exc:  # noqa: BLE001 - NATS away, stream missing: retry
                    self._pause_for_nats(exc)
                    await self._sleep_unless_stopping(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self.running = True
                self._no_stream = False
                if self._paused is not None and not self._paused.startswith("database"):
                    self._resume()
                backoff = 0.2
                try:
                    await self._let_unacknowledged_return(js)
                    await self._fetch_and_apply(pull)
                except _LeadLost as exc:
                    log.warning("consumer %s lost the lead: %s", self.durable, exc)
                    self.running = False
                    self._resign()
                except Exception as exc:  # noqa: BLE001 - NATS away: unacked work is redelivered
                    self._pause_for_nats(exc)
                    await self._sleep_unless_stopping(backoff)
                    backoff = min(backoff * 2, 5.0)
                finally:
                    # A fetch cut short leaves replies queued on the subscription; left
                    # subscribed, the broker's drain at shutdown waits for them until it times out.
                    with contextlib.suppress(Exception):
                        await pull.unsubscribe()
        finally:
            self.running = self._standby = self._no_stream = False
            self._resign()
            self._report()

    async def _lead(self, dsn: str) -> bool:
        """Wait in standby until this instance holds the durable's lock (True), or until a
        stop is asked for (False)."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                conn = await leader_connection(
                    dsn,
                    self.schema,
                    application=f"carenet-{self.service}-consumer",
                    command_timeout=5.0,
                )
            except Exception as exc:  # noqa: BLE001 - the database is away: wait for it
                self._pause_for_database(exc)
                await self._sleep_unless_stopping(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:
                while not self._stopping.is_set():
                    if await try_lead(conn, self.lock):
                        self._leader, self._standby, self._lead_lost = conn, False, False
                        self._pinged_at = time.monotonic()
                        self._resume_from_database()
                        log.info("consumer %s leads its durable", self.durable)
                        return True
                    if not self._standby:
                        log.info("consumer %s in standby: another replica leads", self.durable)
                    self._standby = True
                    self._resume_from_database()
                    self._report()
                    await self._sleep_unless_stopping(self.standby_poll)
            except Exception as exc:  # noqa: BLE001 - the session ended: a new one, later
                self._standby = False
                self._pause_for_database(exc)
                await self._sleep_unless_stopping(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if self._leader is not conn:
                    conn.terminate()
        return False

    def _resign(self) -> None:
        """End the session holding the lock, so a standby takes over at once."""
        conn, self._leader = self._leader, None
        if conn is not None:
            conn.terminate()
        self._report()

    async def _keep_lead(self) -> None:
        """Use the lock's connection now and then; raise ``_LeadLost`` if its session ended."""
        if self._lead_lost:
            raise _LeadLost("its session ended while a batch was applied")
        if self._leader is None or time.monotonic() - self._pinged_at < LEADER_PING_SECONDS:
            return
        try:
            await self._leader.fetchval("SELECT 1", timeout=5)
        except Exception as exc:
            raise _LeadLost(repr(exc)) from exc
        self._pinged_at = time.monotonic()

    async def _let_unacknowledged_return(self, js: JetStreamContext) -> None:
        """Messages handed out and not acknowledged (by a leader that was killed, or to this
        one before NATS cut it off) come back, ahead of newer ones, once their ack wait is
        over; a fetch before that would be handed the newer ones first."""
        info = await js.consumer_info(self.stream, self.durable)
        if info.num_ack_pending:
            wait = min(self.ack_wait, LONGEST_ACK_WAIT) + ACK_WAIT_MARGIN
            log.info(
                "consumer %s: %d messages still out, waiting %.1f s for them to come back",
                self.durable,
                info.num_ack_pending,
                wait,
            )
            await self._sleep_unless_stopping(wait)

    async def stop(self, timeout: float) -> None:
        """Stop fetching; let the batch in hand finish for up to ``timeout`` seconds, then
        cancel it. Messages not applied are nak'd; an attempt cut short is not counted."""
        self._stopping.set()
        self._report()
        task = self._task
        if task is None or task.done():
            return
        finished, _ = await asyncio.wait({task}, timeout=timeout)
        if not finished:
            task.cancel()
            await asyncio.wait({task}, timeout=5)

    async def _fetch_and_apply(self, pull: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            self._report()
            await self._keep_lead()
            try:
                messages = await pull.fetch(self.subscription.batch_size, timeout=1.0)
            except TimeoutError:  # nats' own and asyncio's: nothing arrived in time
                continue
            if self._stopping.is_set():
                await self._settle(_Batch(messages))  # nak them all: none was started
                return
            await self.handle_batch(messages)

    async def handle_batch(self, messages: list[Msg]) -> None:
        """Apply one fetched batch in stream order, then acknowledge what was done and nak
        the rest (only a stop or a NATS error leaves any)."""
        batch = _Batch(messages)
        keeper = asyncio.create_task(self._keep_in_progress(batch))
        try:
            parsed: list[_Parsed] = []
            for msg in messages:
                item = await self._parse(msg)
                if item is None:
                    batch.finish(msg)
                else:
                    parsed.append(item)
            if parsed:
                await self._apply_in_order(parsed, batch)
        except _Stopped:
            log.info("consumer %s stopping: batch in hand abandoned", self.durable)
        finally:
            keeper.cancel()
            await self._settle(batch)

    async def _apply_in_order(self, parsed: list[_Parsed], batch: _Batch) -> None:
        first_deliveries = all(delivery_count(item.msg) == 1 for item in parsed)
        if len(parsed) > 1 and first_deliveries:
            started = time.perf_counter()
            error = await self._attempt(parsed, None)
            if error is None:
                faults.crash_point("consumer.after_commit")
                for item in parsed:
                    batch.finish(item.msg)
                HANDLER_SECONDS.labels(self.service, "event", self.subscription.name).observe(
                    time.perf_counter() - started
                )
                return
            log.warning("batch failed, applying one message at a time: %r", error)
        elif not first_deliveries:
            # Back after a crash or a stop: what was committed then needs no attempt now.
            parsed = await self._skip_applied(parsed, batch)
        for item in parsed:
            if self._stopping.is_set():
                raise _Stopped
            await self._apply_alone(item)
            batch.finish(item.msg)

    async def _skip_applied(self, parsed: list[_Parsed], batch: _Batch) -> list[_Parsed]:
        ids = [item.envelope.id for item in parsed]

        async def known(conn: asyncpg.Connection) -> set[UUID]:
            return await applied_before(conn, self.inbox_key, ids)

        applied = await self._bookkeeping(known)
        for item in parsed:
            if item.envelope.id in applied:
                MESSAGES.labels(self.service, "event", item.envelope.type, "duplicate").inc()
                batch.finish(item.msg)
        return [item for item in parsed if item.envelope.id not in applied]

    async def _apply_alone(self, item: _Parsed) -> None:
        """Apply one event, retrying it in place, until it commits or is dead-lettered."""
        event_id = item.envelope.id
        retried_here = 0
        pause = 0.5
        while True:
            attempt_id = uuid4()
            earlier = await self._begin_attempt(event_id, attempt_id)
            deliveries = delivery_count(item.msg) + retried_here
            if earlier.count >= self.max_deliver:
                await self._give_up(item, earlier, deliveries)
                return
            started = time.perf_counter()
            try:
                error = await self._attempt([item], attempt_id)
            except BaseException:  # cancelled, or stopped while the database was away
                await self._forget_attempt(attempt_id)
                raise
            if error is None:
                faults.crash_point("consumer.after_commit")
                HANDLER_SECONDS.labels(self.service, "event", self.subscription.name).observe(
                    time.perf_counter() - started
                )
                return
            if isinstance(error, Unprocessable):
                await self._dead_letter(item.msg, str(error), "unprocessable", deliveries)
                await self._forget_attempts(event_id)
                return
            self.last_error = repr(error)
            MESSAGES.labels(self.service, "event", item.envelope.type, "failed").inc()
            attempts = earlier.count + 1
            log.error(
                "event handler failed",
                exc_info=error,
                extra={"event_type": item.envelope.type, "attempts": attempts},
            )
            await self._note_failure(attempt_id, repr(error))
            if attempts >= self.max_deliver:
                reason = f"failed {attempts} times: {error!r}"
                await self._dead_letter(item.msg, reason, "failed", deliveries)
                await self._forget_attempts(event_id)
                return
            await self._sleep_unless_stopping(pause, abandon=True)
            pause = min(pause * 2, 30.0)
            retried_here += 1

    async def _begin_attempt(self, event_id: UUID, attempt_id: UUID) -> Earlier:
        async def begin(conn: asyncpg.Connection) -> Earlier:
            return await begin_attempt(conn, self.inbox_key, event_id, attempt_id, self.max_deliver)

        return await self._bookkeeping(begin)

    async def _note_failure(self, attempt_id: UUID, error: str) -> None:
        async def note(conn: asyncpg.Connection) -> None:
            await attempt_failed(conn, attempt_id, error)

        await self._bookkeeping(note)

    async def _give_up(self, item: _Parsed, earlier: Earlier, deliveries: int) -> None:
        count = earlier.count
        if earlier.unfinished == count:
            reason = (
                f"started {count} times without completing: the handler crashed the process, "
                "or the process was killed while it ran"
            )
            kind = "abandoned"
        elif earlier.unfinished == 0:
            reason, kind = f"failed {count} times: {earlier.last_error}", "failed"
        else:
            reason = (
                f"{count} attempts without success, {earlier.unfinished} of them never "
                f"completed; the last failure: {earlier.last_error}"
            )
            kind = "abandoned"
        await self._dead_letter(item.msg, reason, kind, deliveries)
        await self._forget_attempts(item.envelope.id)

    async def _attempt(self, batch: list[_Parsed], attempt_id: UUID | None) -> Exception | None:
        """Apply ``batch`` until it commits (None) or fails for a reason of its own (returned).

        An outage is waited out and a collision run again at once; neither is returned.
        """
        backoff = 0.2
        collisions = 0
        while True:
            try:
                await self._apply(batch, attempt_id)
            except _ApplyFailed as failed:
                failure = await self._classify(failed)
                if failure is Failure.COLLISION:
                    collisions += 1
                    if collisions < COLLISIONS_BEFORE_COUNTING:
                        log.info("consumer %s collided, again: %r", self.durable, failed.error)
                        # A little spread, so two rivals do not meet again in the same way.
                        await asyncio.sleep(random.uniform(0, 0.01 * collisions))
                        continue
                if failure is Failure.OUTAGE:
                    self._pause_for_database(failed.error)
                    await self._sleep_unless_stopping(backoff, abandon=True)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self._resume_from_database()
                return failed.error
            self._resume_from_database()
            return None

    async def _apply(self, batch: list[_Parsed], attempt_id: UUID | None) -> None:
        """Apply ``batch`` in one transaction; events already in the inbox are skipped."""
        try:
            first = batch[0].envelope
            async with UnitOfWork(
                self.pool, self.service, self.schema, first.site, self.zone
            ) as uow:
                committing = False
                try:
                    ids = list({item.envelope.id: None for item in batch})
                    fresh = await claim(uow.conn, self.inbox_key, ids)
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
                    if attempt_id is not None:  # a batch of fresh messages has none recorded
                        await forget_attempts(uow.conn, self.inbox_key, ids)
                    committing = True
                    await uow.commit()
                except Exception as exc:
                    lost = uow.conn.is_closed()
                    raise _ApplyFailed(exc, committing=committing, connection_lost=lost) from exc
        except _ApplyFailed:
            raise
        except Exception as exc:  # acquiring a connection, or beginning the transaction
            raise _ApplyFailed(exc, committing=False, connection_lost=False) from exc
        for item in batch:
            MESSAGES.labels(self.service, "event", item.envelope.type, "handled").inc()

    async def _classify(self, failed: _ApplyFailed) -> Failure:
        error = failed.error
        if isinstance(error, Unprocessable):
            return Failure.WORK
        if classify_fast(error) is Failure.AMBIGUOUS:
            if failed.connection_lost:
                return Failure.OUTAGE
            if failed.committing and not isinstance(error, ValueError):
                # The connection failed while committing (PostgreSQL going away answers
                # InternalClientError): the outcome is unknown, and the inbox makes running it
                # again safe. A ValueError is asyncpg refusing a handler's argument.
                return Failure.OUTAGE
        if self.dsn is not None:
            return await classify(error, self.dsn)
        kind = classify_fast(error)
        if kind is not Failure.AMBIGUOUS:
            return kind
        return Failure.WORK if await self._pool_answers() else Failure.OUTAGE

    async def _pool_answers(self) -> bool:
        try:
            async with asyncio.timeout(2), self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure to answer means it does not answer
            return False

    async def _bookkeeping(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``work`` on a connection of its own, waiting out outages and collisions."""
        backoff = 0.2
        while True:
            try:
                async with self.pool.acquire() as conn:
                    try:
                        return await work(conn)
                    except Exception as exc:
                        lost = conn.is_closed()
                        raise _ApplyFailed(exc, committing=False, connection_lost=lost) from exc
            except _ApplyFailed as failed:
                failure = await self._classify(failed)
                if failure is Failure.WORK:
                    raise failed.error from failed
                if failure is Failure.OUTAGE:
                    self._pause_for_database(failed.error)
                    await self._sleep_unless_stopping(backoff, abandon=True)
                    backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # acquiring a connection
                failure = await self._classify(
                    _ApplyFailed(exc, committing=False, connection_lost=False)
                )
                if failure is Failure.WORK:
                    raise
                self._pause_for_database(exc)
                await self._sleep_unless_stopping(backoff, abandon=True)
                backoff = min(backoff * 2, 5.0)

    async def _forget_attempt(self, attempt_id: UUID) -> None:
        """Best effort: if the database is away the attempt stays counted."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2), self.pool.acquire() as conn:
                await forget_attempt(conn, attempt_id)

    async def _forget_attempts(self, event_id: UUID) -> None:
        """Best effort, once an event is dead-lettered: a re-drive of it starts afresh."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2), self.pool.acquire() as conn:
                await forget_attempts(conn, self.inbox_key, [event_id])

    async def _parse(self, msg: Msg) -> _Parsed | None:
        """The message's event and data, or None if it is done with (ignored, dead-lettered)."""
        try:
            envelope = EventEnvelope.model_validate(json.loads(msg.data))
        except (ValueError, ValidationError) as exc:
            await self._dead_letter(msg, f"unparseable event: {exc}", "unparseable")
            return None
        handler = self.subscription.handlers.get(envelope.type)
        if handler is None or (self.sites is not None and envelope.site not in self.sites):
            MESSAGES.labels(self.service, "event", envelope.type, "ignored").inc()
            return None
        try:
            data = CATALOGUE.event_model(envelope.type).model_validate(envelope.data)
        except ValidationError as exc:
            await self._dead_letter(msg, f"invalid {envelope.type} data: {exc}", "invalid")
            return None
        return _Parsed(msg, envelope, data)

    async def _dead_letter(
        self, msg: Msg, reason: str, kind: str, deliveries: int | None = None
    ) -> None:
        """Copy ``msg`` to ``DLQ``; it is acknowledged with the rest of its batch."""
        assert self._js is not None
        await dead_letter(
            self._js,
            msg,
            service=self.service,
            consumer=self.subscription.name,
            reason=reason,
            kind=kind,
            deliveries=deliveries,
        )

    async def _settle(self, batch: _Batch) -> None:
        for msg in batch.messages:
            with contextlib.suppress(Exception):  # NATS away: unacked work is redelivered
                if batch.is_done(msg):
                    await msg.ack()
                else:
                    await msg.nak()

    async def _keep_in_progress(self, batch: _Batch) -> None:
        """Tell JetStream the batch in hand is still being worked on, so it is not handed to
        another replica (nor back to us) while a handler runs long or the database is away."""
        interval = max(0.2, min(self.ack_wait, LONGEST_ACK_WAIT) / 3)
        while True:
            await asyncio.sleep(interval)
            for msg in batch.messages:
                if not batch.is_done(msg):
                    with contextlib.suppress(Exception):
                        await msg.in_progress()
            await self._keep_lead_while_applying()

    async def _keep_lead_while_applying(self) -> None:
        """Keep the lock's session alive through a long batch; note if it ended (the batch
        goes on, and the lead is given up after it)."""
        if self._leader is None or self._lead_lost:
            return
        if time.monotonic() - self._pinged_at < LEADER_PING_SECONDS:
            return
        try:
            await self._leader.fetchval("SELECT 1", timeout=5)
            self._pinged_at = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - told to the fetch loop
            self._lead_lost = True
            log.warning("consumer %s: the lock's session ended: %r", self.durable, exc)

    async def _sleep_unless_stopping(self, seconds: float, *, abandon: bool = False) -> None:
        """Sleep ``seconds``, less if a stop is asked for; then, with ``abandon``, stop."""
        if not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
        if abandon and self._stopping.is_set():
            raise _Stopped

    def _pause_for_nats(self, exc: Exception) -> None:
        self.running = False
        self._paused = self.last_error = f"consumer paused: {exc!r}"
        log.warning("consumer %s paused: %s", self.durable, exc)
        self._report()

    def _wait_for_stream(self) -> None:
        if not self._no_stream:
            log.info("consumer %s waiting for stream %s to be created", self.durable, self.stream)
        self.running = False
        self._no_stream = True
        self._report()

    def _pause_for_database(self, exc: Exception) -> None:
        self._paused = self.last_error = f"database unavailable: {exc!r}"
        log.warning("consumer %s waiting for the database: %s", self.durable, exc)
        self._report()

    def _resume_from_database(self) -> None:
        if self._paused is not None and self._paused.startswith("database"):
            self._resume()
        self.last_error = None

    def _resume(self) -> None:
        self._paused = None
        self.last_error = None
        self._report()

    def _report(self) -> None:
        CONSUMER_RUNNING.labels(self.service, self.durable).set(1 if self.healthy else 0)
        CONSUMER_LEADING.labels(self.service, self.durable).set(1 if self.leading else 0)
