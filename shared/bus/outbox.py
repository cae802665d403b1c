"""The outbox relay: publishes committed events to JetStream in order, marking them after the ack.

One relay per service schema is active at a time (a PostgreSQL advisory lock elects it), so
replicas never interleave. It wakes on LISTEN/NOTIFY, and polls slowly as well in case a
notification was missed while its connection was down. Anything it published but could not
mark is published again on the next pass; JetStream drops the copy by ``Nats-Msg-Id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
from nats.aio.client import Client as NatsClient

from shared import faults
from shared.db.pool import connect
from shared.db.uow import outbox_channel
from shared.observability.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED

log = logging.getLogger("carenet.outbox")


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
    """Longer than the broker's fsync interval (see nats-facts.md on acknowledged, lost writes)."""
    on_state: Callable[[str], None] = field(default=lambda state: None)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _stopping: bool = field(default=False, init=False)

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
                self.on_state("retrying")
                log.warning("outbox relay paused: %s", exc, extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _run_as_leader(self) -> None:
        conn = await connect(self.dsn, self.schema, application=f"carenet-{self.service}-relay")
        try:
            lock = f"carenet.outbox.{self.schema}"
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock):
                self.on_state("standby")
                await asyncio.sleep(self.poll_seconds)
                if self._stopping:
                    return
            await conn.add_listener(outbox_channel(self.schema), self._notified)
            self.on_state("leader")
            last_purge = 0.0
            loop = asyncio.get_running_loop()
            while not self._stopping:
                self._wake.clear()
                await self.drain(conn)
                if loop.time() - last_purge > 60:
                    await self.purge(conn)
                    last_purge = loop.time()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            try:
                await asyncio.wait_for(conn.close(), timeout=2)
            except Exception:  # noqa: BLE001
                conn.terminate()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def drain(self, conn: asyncpg.Connection) -> int:
        """Publish everything unpublished, oldest first; returns how many were published."""
        total = 0
        while True:
            rows = await conn.fetch(
                """SELECT seq, event_id, subject, body FROM outbox
                   WHERE published_at IS NULL ORDER BY seq LIMIT $1""",
                self.batch_size,
            )
            if not rows:
                break
            published = await self._publish(rows)
            faults.crash_point("relay.after_publish")
            if published:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                    [row["seq"] for row in rows[:published]],
                )
                OUTBOX_PUBLISHED.labels(self.service).inc(published)
                total += published
            if published < len(rows):
                raise ConnectionError(f"published {published} of {len(rows)} outbox events")
        await self._measure(conn)
        return total

    async def _publish(self, rows: list[asyncpg.Record]) -> int:
        """Publish a batch with pipelined acks; returns the length of the acknowledged prefix."""
        js = self.nats.jetstream(timeout=self.publish_timeout)
        futures = []
        for row in rows:
            futures.append(
                await js.publish_async(
                    row["subject"],
                    row["body"].encode(),
                    headers={"Nats-Msg-Id": str(row["event_id"])},
                    wait_stall=self.publish_timeout,
                )
            )
        acked = 0
        for future in futures:
            try:
                await asyncio.wait_for(future, timeout=self.publish_timeout)
            except Exception as exc:  # noqa: BLE001 - the rest are retried on the next pass
                log.warning("publish not acknowledged: %s", exc)
                for rest in futures[acked:]:
                    rest.cancel()
                break
            acked += 1
        return acked

    async def _measure(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow(
            """SELECT count(*) AS backlog,
                      coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
               FROM outbox WHERE published_at IS NULL"""
        )
        assert row is not None
        OUTBOX_BACKLOG.labels(self.service).set(row["backlog"])
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(row["age"]))

    async def purge(self, conn: asyncpg.Connection) -> int:
        result = await conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - $1::interval", self.keep_published
        )
        return int(result.split()[-1])
