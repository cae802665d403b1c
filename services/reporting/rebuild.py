"""``carenet reporting rebuild``: empty the read models and replay every stream from the start.

The whole rebuild is one PostgreSQL transaction holding the rebuild lock exclusively:
- queries keep answering from the old rows until it commits (MVCC), then see the new ones;
- the live consumers' transactions take the same lock shared, so they wait (nothing is
  acknowledged meanwhile) and carry on afterwards; an event they then apply again is an
  idempotent upsert, so the figures are the same whichever applied it first;
- a rebuild that fails or is interrupted rolls back and leaves the old figures in place.

It replays each stream up to the last sequence it had when the rebuild started; later events
reach the read models through the live consumers, as usual. Events are replayed through the
same ``store.APPLY`` functions the live consumers use, so the figures afterwards are the same.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from services.reporting import store
from shared.kit.bus.address import connect_nats
from shared.kit.bus.streams import stream_name
from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.envelope import EventEnvelope
from shared.kit.contracts.public import load_public_contracts
from shared.kit.db import migrations
from shared.kit.db.pool import connect

MIGRATIONS = Path(__file__).parent / "migrations"
SOURCES = tuple(store.APPLY)

Progress = Callable[[int, int, float], None]
"""Called with (events read, events to read, seconds so far)."""


@dataclass
class Rebuilt:
    read: int = 0
    applied: int = 0
    skipped: int = 0
    seconds: float = 0.0
    streams: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


async def _stream_ends(nc: NatsClient) -> dict[str, tuple[int, int]]:
    """(messages, last sequence) of each source stream that exists."""
    js = nc.jetstream()
    ends = {}
    for source in SOURCES:
        try:
            info = await js.stream_info(stream_name(source))
        except NotFoundError:
            continue
        ends[source] = (info.state.messages, info.state.last_seq)
    return ends


async def rebuild(database_url: str, nats_url: str, *, progress: Progress | None = None) -> Rebuilt:
    load_public_contracts()
    result = Rebuilt()
    conn = await connect(database_url, "reporting", application="carenet-reporting-rebuild")
    nc = await connect_nats(nats_url, max_reconnect_attempts=3)
    try:
        await migrations.migrate(conn, "reporting", MIGRATIONS)
        started = time.perf_counter()
        async with conn.transaction():
            # Waits for consumer transactions in flight; new ones wait for this one.
            await store.hold_rebuild_lock(conn)
            ends = await _stream_ends(nc)
            total = sum(messages for messages, _ in ends.values())
            await store.empty_read_models(conn)
            for source, (messages, last) in ends.items():
                if messages == 0:
                    continue
                result.streams[source] = await _replay(
                    conn, nc, source, last, result, total, started, progress
                )
            result.seconds = time.perf_counter() - started
        if progress is not None:
            progress(result.read, max(total, result.read), result.seconds)
    finally:
        await nc.close()
        await conn.close()
    return result


async def _replay(
    conn: asyncpg.Connection,
    nc: NatsClient,
    source: str,
    last: int,
    result: Rebuilt,
    total: int,
    started: float,
    progress: Progress | None,
) -> int:
    apply_table = store.APPLY[source]
    js = nc.jetstream()
    # An ordered consumer is the fastest replay (no acks) and leaves nothing behind.
    sub = await js.subscribe(
        f"evt.*.{source}.>",
        stream=stream_name(source),
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        pending_msgs_limit=100_000,
    )
    read = 0
    rows = store.Rows()
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            read += 1
            result.read += 1
            try:
                envelope = EventEnvelope.model_validate(json.loads(msg.data))
                apply = apply_table.get(envelope.type)
                data = (
                    CATALOGUE.event_model(envelope.type).model_validate(envelope.data)
                    if apply is not None
                    else None
                )
            except (ValueError, ValidationError, KeyError):
                # The live consumer dead-lettered it; it never counted.
                apply = None
            if apply is None:
                result.skipped += 1
            else:
                rows.add(apply(envelope, data))
                result.applied += 1
            if rows.count >= 1000:
                await rows.flush(conn)
            if progress is not None and result.read % 500 == 0:
                progress(result.read, total, time.perf_counter() - started)
            if msg.metadata.sequence.stream >= last:
                await rows.flush(conn)
                return read
    finally:
        await sub.unsubscribe()
