"""The outbox relay: publishes committed events to JetStream in order, marking them after the ack.

What it promises, exactly:

- **One publisher per schema.** A PostgreSQL advisory lock elects one relay per service schema;
  the others wait in standby. The leader checks its connection with a timed query every pass
  (and every statement has a command timeout), so a dead or frozen link is noticed within
  seconds; the server ends a silent session itself (``idle_session_timeout``, TCP keepalives),
  which releases the lock to a standby.
- **Stream order is outbox order** for every event the relay publishes. Within a pass the first
  event is published alone and awaited; the next ones are pipelined, each carrying
  ``Nats-Expected-Last-Msg-Id`` = the event before it, so if one fails the server refuses the
  ones after it instead of storing them ahead of it. When the chain is broken by something
  else (another publisher in the stream, or a re-published event JetStream drops as a
  duplicate), the rest of that batch goes one event at a time, each awaited.
- **Marked only after the ack**, with the stream sequence from the ack (``stream_seq``).
  Anything published but not marked is published again; JetStream drops the copy by
  ``Nats-Msg-Id`` while it remembers the id (the stream's duplicate window). Each row records
  when it was first sent (``first_attempt_at``, written before the send); a row first sent
  longer ago than ``recheck_after`` (default a third of that window) is looked for by id in the
  stream (headers only, from just before that time) before it is sent again, and marked from
  there if it is found. So a copy is stored twice only if the stream loses the first one.
- **A permanent refusal parks one event, not the relay.** An event JetStream will never take
  (larger than the server's ``max_payload`` or the stream's ``max_msg_size``) is parked:
  ``parked_at`` and ``park_reason`` are set, it stays in the outbox (never purged while parked),
  ``carenet_outbox_parked`` counts it, and the events after it are published. Everything else
  (no responders, timeouts, a lost connection, any other server error) is transient: the relay
  keeps the event at the head, reports ``retrying`` and tries again with backoff.
- Published rows are kept ``keep_published`` (default 1 h) for ``carenet reconcile``.

It wakes on LISTEN/NOTIFY, and polls slowly as well in case a notification was missed.
Backlog and oldest age are measured after every pass, whether it succeeded or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import MaxPayloadError
from nats.js.api import PubAck

from shared.kit import faults
from shared.kit.bus.streams import DUPLICATE_WINDOW_SECONDS, find_event_ids, stream_name
from shared.kit.db.leader import close as close_leader
from shared.kit.db.leader import leader_connection, try_lead
from shared.kit.db.uow import outbox_channel
from shared.kit.observability.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PARKED,
    OUTBOX_PUBLISHED,
    OUTBOX_RELAY_RETRYING,
)

log = logging.getLogger("carenet.outbox")

PERMANENT_REFUSALS = {
    10054: "message size exceeds maximum allowed",
    10097: "message header size exceeds maximum allowed",
}
"""JetStream API error codes that no retry can change for the same event."""
WRONG_LAST_MSG_ID = 10070
"""The stream's last ``Nats-Msg-Id`` is not the one this publish expected."""

RECHECK_MARGIN = timedelta(minutes=5)
"""How much earlier than a row's creation its id is looked for (clock skew between servers)."""


class PublishFailed(Exception):
    """The event was not (known to be) stored, for a reason that may pass: retry later."""


class Refused(Exception):
    """JetStream will never store this event as it is."""


class ChainBroken(Exception):
    """Refused because the stream's last message is not the event before this one."""


def header_size(headers: dict[str, str]) -> int:
    """Bytes the headers take on the wire (``NATS/1.0`` line, one line each, blank line)."""
    return len(b"NATS/1.0\r\n\r\n") + sum(
        len(key.encode()) + len(value.encode()) + 4 for key, value in headers.items()
    )


@dataclass(frozen=True)
class _Outcome:
    acks: list[PubAck]
    """Acks for the leading rows of the batch, in order."""
    failure: Exception | None = None
    """Why the row after them was not published (``Refused`` parks it), or None."""


class Publisher:
    """Publishes to JetStream and resolves each publish from its ack, on one reply subscription.

    nats-py's ``publish_async`` turns an error ack into a timeout (the exception escapes its
    reply callback), and each ``jetstream()`` context adds a reply subscription of its own;
    this reads every reply itself, so a refusal is an error at once.
    """

    def __init__(self, nats: NatsClient) -> None:
        self.nats = nats
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._pending: dict[str, asyncio.Future[PubAck]] = {}
        self._counter = 0

    async def open(self) -> None:
        self._prefix = self.nats.new_inbox()
        self._subscription = await self.nats.subscribe(f"{self._prefix}.*", cb=self._on_reply)

    async def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def send(
        self, subject: str, body: bytes, headers: dict[str, str]
    ) -> asyncio.Future[PubAck]:
        """Publish; the future resolves to the ack or fails with one of this module's errors."""
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        size = len(body) + header_size(headers)
        if size > self.nats.max_payload:
            # nats-py checks the body alone; a message whose headers push it over the limit
            # makes the server close the whole connection instead.
            future.set_exception(
                Refused(
                    f"{size} bytes with headers, over the server's max_payload "
                    f"({self.nats.max_payload} bytes)"
                )
            )
            return future
        self._counter += 1
        token = str(self._counter)
        self._pending[token] = future
        try:
            await self.nats.publish(subject, body, reply=f"{self._prefix}.{token}", headers=headers)
        except MaxPayloadError:
            self._pending.pop(token, None)
            future.set_exception(
                Refused(f"larger than the server's max_payload ({self.nats.max_payload} bytes)")
            )
        except Exception as exc:  # noqa: BLE001 - connection trouble: try again later
            self._pending.pop(token, None)
            future.set_exception(PublishFailed(f"could not send: {exc!r}"))
        return future

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_exception(PublishFailed("no stream answered (no responders)"))
            return
        try:
            reply: dict[str, Any] = json.loads(msg.data)
        except ValueError:
            future.set_exception(PublishFailed(f"unreadable publish ack {msg.data[:100]!r}"))
            return
        error = reply.get("error")
        if error is None:
            future.set_result(PubAck.from_response(reply))
            return
        code = error.get("err_code")
        text = f"{error.get('description')} (code {error.get('code')}, err_code {code})"
        if code in PERMANENT_REFUSALS:
            future.set_exception(Refused(text))
        elif code == WRONG_LAST_MSG_ID:
            future.set_exception(ChainBroken(text))
        else:
            future.set_exception(PublishFailed(text))


@dataclass
class OutboxRelay:
    nats: NatsClient
    dsn: str
    service: str
    schema: str
    batch_size: int = 500
    publish_timeout: float = 5.0
    poll_seconds: float = 2.0
    keep_published: timedelta = timedelta(hours=1)
    """Longer than the broker's fsync interval (docs/bus-facts.md, "Durability")."""
    recheck_after: timedelta | None = None
    """Rows older than this are looked for in the stream before being published again; default
    a third of the stream's duplicate window."""
    query_timeout: float = 5.0
    """Longest wait for any one statement on the relay's connection (a frozen link fails it)."""
    session_timeout: timedelta = timedelta(seconds=60)
    """The server ends the relay's session (and frees the lock) after this long without a word."""
    stream: str = ""
    subjects: list[str] | None = None
    """The subjects of this instance's events in the stream (its sites'), None for every site:
    where it looks for old events before sending them again."""
    on_state: Callable[[str], None] = field(default=lambda state: None)
    measure_seconds: float = 5.0
    """The backlog gauges are counted at most this often (a ``count(*)`` of the outbox on every
    wake-up would cost every command); a pass that emptied the outbox sets the backlog and its
    age to 0 without counting, and a pass that failed or parked an event counts at once."""
    _measured_at: float = field(default=float("-inf"), init=False)
    _emptied: bool = field(default=False, init=False)
    _parked_one: bool = field(default=False, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _stopping: bool = field(default=False, init=False)
    _publisher: Publisher | None = field(default=None, init=False)
    _duplicate_window: timedelta = field(
        default=timedelta(seconds=DUPLICATE_WINDOW_SECONDS), init=False
    )
    _window_read_at: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        self.stream = self.stream or stream_name(self.service)

    async def run(self) -> None:
        """Relay until cancelled, surviving database and broker outages."""
        backoff = 0.5
        while not self._stopping:
            try:
                await self._run_as_leader()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - outages are retried, never fatal
                self._state("retrying")
                log.warning("outbox relay paused: %s", exc, extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _state(self, state: str) -> None:
        OUTBOX_RELAY_RETRYING.labels(self.service).set(1 if state == "retrying" else 0)
        self.on_state(state)

    async def _run_as_leader(self) -> None:
        conn = await leader_connection(
            self.dsn,
            self.schema,
            application=f"carenet-{self.service}-relay",
            command_timeout=self.query_timeout,
            idle_timeout=self.session_timeout,
        )
        publisher = Publisher(self.nats)
        try:
            while not await try_lead(conn, f"carenet.outbox.{self.schema}"):
                self._state("standby")
                await asyncio.sleep(self.poll_seconds)
                if self._stopping:
                    return
            await conn.add_listener(outbox_channel(self.schema), self._notified)
            await publisher.open()
            self._publisher = publisher
            self._state("leader")
            last_purge = 0.0
            backoff = 0.5
            loop = asyncio.get_running_loop()
            while not self._stopping:
                self._wake.clear()
                await conn.fetchval("SELECT 1")  # a dead link fails here, within query_timeout
                try:
                    await self.drain(conn)
                except PublishFailed as exc:
                    # NATS-side trouble: keep the lock and the connection, try again soon.
                    self._state("retrying")
                    log.warning("outbox relay cannot publish: %s", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.5
                self._state("leader")
                if loop.time() - last_purge > 60:
                    await self.purge(conn)
                    last_purge = loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
        finally:
            self._publisher = None
            await publisher.close()
            await close_leader(conn)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def drain(self, conn: asyncpg.Connection) -> int:
        """Publish everything unpublished and not parked, oldest first; returns how many.

        Raises ``PublishFailed`` if an event could not be published for now; the backlog
        gauges are measured either way (see ``measure_seconds``).
        """
        self._emptied = self._parked_one = False
        failed = True
        try:
            total = await self._drain(conn)
            failed = False
            return total
        finally:
            now = asyncio.get_running_loop().time()
            if failed or self._parked_one or now - self._measured_at >= self.measure_seconds:
                with contextlib.suppress(Exception):
                    await self._measure(conn)
                    self._measured_at = now
            elif self._emptied:
                OUTBOX_BACKLOG.labels(self.service).set(0)
                OUTBOX_OLDEST_AGE.labels(self.service).set(0)

    async def _drain(self, conn: asyncpg.Connection) -> int:
        if self._publisher is None:
            self._publisher = Publisher(self.nats)
            await self._publisher.open()
        total = 0
        while not self._stopping:
            rows = await conn.fetch(
                """SELECT seq, event_id, subject, body, first_attempt_at,
                          extract(epoch FROM now() - first_attempt_at)::float8 AS attempt_age
                   FROM outbox WHERE published_at IS NULL AND parked_at IS NULL
                   ORDER BY seq LIMIT $1""",
                self.batch_size,
            )
            if not rows:
                self._emptied = True
                break
            await self._read_duplicate_window()
            rows = await self._skip_stored(conn, rows)
            if not rows:
                continue
            # Recorded before the send: whatever happens next, a later pass knows since when
            # the stream may hold these events.
            await conn.execute(
                """UPDATE outbox SET first_attempt_at = now()
                   WHERE seq = ANY($1::bigint[]) AND first_attempt_at IS NULL""",
                [row["seq"] for row in rows],
            )
            outcome = await self._publish(rows)
            faults.crash_point("relay.after_publish")
            published = len(outcome.acks)
            if published:
                await conn.execute(
                    """UPDATE outbox SET published_at = now(), stream_seq = m.stream_seq
                       FROM unnest($1::bigint[], $2::bigint[]) AS m(seq, stream_seq)
                       WHERE outbox.seq = m.seq""",
                    [row["seq"] for row in rows[:published]],
                    [ack.seq for ack in outcome.acks],
                )
                OUTBOX_PUBLISHED.labels(self.service).inc(published)
                total += published
            if isinstance(outcome.failure, Refused):
                await self._park(conn, rows[published], str(outcome.failure))
            elif outcome.failure is not None:
                raise PublishFailed(
                    f"published {published} of {len(rows)} outbox events: {outcome.failure}"
                ) from outcome.failure
        return total

    async def _read_duplicate_window(self) -> None:
        """The stream's own duplicate window, read at most every 30 s (best effort)."""
        loop = asyncio.get_running_loop()
        if self.recheck_after is not None or loop.time() - self._window_read_at < 30:
            return
        try:
            info = await self.nats.jetstream().stream_info(self.stream)
        except Exception:  # noqa: BLE001 - keep the last known window; publishing will tell
            return
        self._window_read_at = loop.time()
        if window := info.config.duplicate_window:
            self._duplicate_window = timedelta(seconds=window)

    def _recheck_seconds(self) -> float:
        limit = self.recheck_after if self.recheck_after is not None else self._duplicate_window / 3
        return limit.total_seconds()

    async def _skip_stored(
        self, conn: asyncpg.Connection, rows: list[asyncpg.Record]
    ) -> list[asyncpg.Record]:
        """Mark the old rows the stream already holds; returns the rows still to publish."""
        limit = self._recheck_seconds()
        old = [
            row for row in rows if row["attempt_age"] is not None and row["attempt_age"] >= limit
        ]
        if not old:
            return rows
        since: datetime = min(row["first_attempt_at"] for row in old) - RECHECK_MARGIN
        try:
            found = await find_event_ids(
                self.nats,
                self.stream,
                [str(row["event_id"]) for row in old],
                since=since,
                subjects=self.subjects,
            )
        except Exception as exc:
            raise PublishFailed(f"could not look for old events in the stream: {exc!r}") from exc
        if not found:
            return rows
        stored = [row for row in old if str(row["event_id"]) in found]
        await conn.execute(
            """UPDATE outbox SET published_at = now(), stream_seq = m.stream_seq
               FROM unnest($1::bigint[], $2::bigint[]) AS m(seq, stream_seq)
               WHERE outbox.seq = m.seq""",
            [row["seq"] for row in stored],
            [found[str(row["event_id"])] for row in stored],
        )
        log.info(
            "%d old outbox events were already in the stream; marked without publishing",
            len(stored),
        )
        return [row for row in rows if str(row["event_id"]) not in found]

    async def _publish(self, rows: list[asyncpg.Record]) -> _Outcome:
        """Publish ``rows`` in order; the acks cover a leading run of them."""
        acks: list[PubAck] = []
        chained = True
        while len(acks) < len(rows):
            start = len(acks)
            if start == 0 or not chained:
                try:
                    acks.append(await self._publish_one(rows[start]))
                except (PublishFailed, Refused, ChainBroken) as exc:
                    return _Outcome(acks, exc)
                continue
            more, failure = await self._publish_chained(rows[start:], rows[start - 1])
            acks.extend(more)
            if isinstance(failure, ChainBroken):
                # The stream's last message is not our previous event: it was a duplicate,
                # or someone else publishes here. Order still holds one at a time.
                chained = False
                continue
            if failure is not None:
                return _Outcome(acks, failure)
        return _Outcome(acks)

    def _headers(self, row: asyncpg.Record, after: asyncpg.Record | None) -> dict[str, str]:
        headers = {"Nats-Msg-Id": str(row["event_id"])}
        if after is not None:
            headers["Nats-Expected-Last-Msg-Id"] = str(after["event_id"])
        return headers

    async def _publish_one(self, row: asyncpg.Record) -> PubAck:
        assert self._publisher is not None
        future = await self._publisher.send(
            row["subject"], row["body"].encode(), self._headers(row, None)
        )
        return await self._wait(future)

    async def _wait(self, future: asyncio.Future[PubAck]) -> PubAck:
        try:
            return await asyncio.wait_for(future, timeout=self.publish_timeout)
        except TimeoutError as exc:
            raise PublishFailed(f"no publish ack within {self.publish_timeout} s") from exc

    async def _publish_chained(
        self, rows: list[asyncpg.Record], before: asyncpg.Record
    ) -> tuple[list[PubAck], Exception | None]:
        """Pipeline ``rows``, each expecting the one before it as the stream's last message."""
        assert self._publisher is not None
        futures = []
        previous = before
        for row in rows:
            futures.append(
                await self._publisher.send(
                    row["subject"], row["body"].encode(), self._headers(row, previous)
                )
            )
            previous = row
        acks: list[PubAck] = []
        failure: Exception | None = None
        for future in futures:
            if failure is not None:
                future.cancel()
                continue
            try:
                acks.append(await self._wait(future))
            except (PublishFailed, Refused, ChainBroken) as exc:
                failure = exc
        return acks, failure

    async def _park(self, conn: asyncpg.Connection, row: asyncpg.Record, reason: str) -> None:
        self._parked_one = True
        await conn.execute(
            "UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE seq = $1",
            row["seq"],
            reason,
        )
        log.error(
            "outbox event parked: JetStream refuses it for good (%s); the events after it go on",
            reason,
            extra={"event_id": str(row["event_id"]), "subject": row["subject"]},
        )

    async def _measure(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE parked_at IS NULL) AS backlog,
                      count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked,
                      coalesce(extract(epoch FROM now() - min(created_at)
                               FILTER (WHERE parked_at IS NULL)), 0) AS age
               FROM outbox WHERE published_at IS NULL"""
        )
        assert row is not None
        OUTBOX_BACKLOG.labels(self.service).set(row["backlog"])
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(row["age"]))
        OUTBOX_PARKED.labels(self.service).set(row["parked"])

    async def purge(self, conn: asyncpg.Connection) -> int:
        """Delete rows published longer ago than ``keep_published`` (parked rows stay)."""
        result = await conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - $1::interval", self.keep_published
        )
        return int(result.split()[-1])
