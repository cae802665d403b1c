"""Workload 1, event ingest: reporting's real consumers against a raw pull-and-insert loop.

Both read the same mixed events (intake, groups, volunteers) from the same three streams and
write the same rows: validate each envelope and its payload, claim its id in the inbox, upsert
its read-model row (``services.reporting.store.APPLY``'s statements), one transaction per
batch, then acknowledge each message. The kit side is three ``EventConsumer`` running
reporting's real subscriptions; the baseline is three nats-py durable pull ``fetch`` loops and
asyncpg ``executemany``. ``python bench/ingest.py`` runs this workload alone.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

if __package__ in (None, ""):  # `python bench/ingest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.common import Row, Servers, Side, delete_streams, say
from bench.events import SOURCES, counts_by_source, ensure_streams, mixed_events, publish
from services.reporting import inbound, store
from services.reporting.app import BATCH
from services.reporting.rebuild import MIGRATIONS
from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.consumer import EventConsumer, Subscription
from shared.kit.bus.streams import stream_name
from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.envelope import EventEnvelope
from shared.kit.db import migrations
from shared.kit.db.pool import create_pool


async def fresh_schema(dsn: str, schema: str) -> asyncpg.Pool:
    """A pool on ``schema``, dropped and migrated with reporting's migrations."""
    pool = await create_pool(dsn, schema, application=f"bench-{schema}")
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await migrations.migrate(conn, schema, MIGRATIONS)
    return pool


async def _inbox_rows(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM inbox"))


async def _until_all_in(pool: asyncpg.Pool, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await _inbox_rows(pool) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"ingest: {await _inbox_rows(pool)} of {n} events after {timeout}s")
        await asyncio.sleep(0.02)


async def run_kit(nc: Any, dsn: str, n: int, batch: int, timeout: float) -> float:
    """Events per second through reporting's three real subscriptions."""
    pool = await fresh_schema(dsn, "reporting")
    zone = load_organisation(DEMO_ORGANISATION).zone
    consumers = [
        EventConsumer(
            subscription=Subscription(
                name=f"{source}-events",
                source=source,
                handlers=inbound.handlers_of(source),
                batch_size=batch,
            ),
            service="reporting",
            schema="reporting",
            pool=pool,
            zone=zone,
            sites=None,
            dsn=dsn,
        )
        for source in SOURCES
    ]
    started = time.perf_counter()
    tasks = [asyncio.create_task(c.run(nc)) for c in consumers]
    try:
        await _until_all_in(pool, n, timeout)
        seconds = time.perf_counter() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
    return n / seconds


async def _baseline_source(nc: Any, pool: asyncpg.Pool, source: str, n: int, batch: int) -> None:
    js = nc.jetstream()
    durable = f"baseline_{source}"
    apply_table = store.APPLY[source]
    await js.add_consumer(
        stream_name(source),
        ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=batch * 4,
        ),
    )
    pull = await js.pull_subscribe_bind(durable=durable, stream=stream_name(source))
    done = 0
    try:
        while done < n:
            try:
                messages = await pull.fetch(batch, timeout=1.0)
            except TimeoutError:
                continue
            parsed: list[tuple[UUID, Any]] = []
            for msg in messages:
                envelope = EventEnvelope.model_validate(json.loads(msg.data))
                data = CATALOGUE.event_model(envelope.type).model_validate(envelope.data)
                parsed.append((envelope.id, apply_table[envelope.type](envelope, data)))
            async with pool.acquire() as conn, conn.transaction():
                claimed = {
                    r["event_id"]
                    for r in await conn.fetch(
                        """INSERT INTO inbox (consumer, event_id)
                           SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING
                           RETURNING event_id""",
                        durable,
                        [event_id for event_id, _ in parsed],
                    )
                }
                by_sql: dict[str, list[tuple[Any, ...]]] = {}
                for event_id, (sql, args) in parsed:
                    if event_id in claimed:
                        by_sql.setdefault(sql, []).append(args)
                for sql, rows in by_sql.items():
                    await conn.executemany(sql, rows)
            for msg in messages:
                await msg.ack()
            done += len(messages)
    finally:
        await pull.unsubscribe()


async def run_baseline(
    nc: Any, dsn: str, per_source: dict[str, int], batch: int, timeout: float
) -> float:
    """Events per second through three raw fetch + executemany loops, one per stream."""
    pool = await fresh_schema(dsn, "baseline")
    started = time.perf_counter()
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(_baseline_source(nc, pool, s, count, batch) for s, count in per_source.items())
            ),
            timeout,
        )
        seconds = time.perf_counter() - started
        assert await _inbox_rows(pool) == sum(per_source.values())
    finally:
        await pool.close()
    return sum(per_source.values()) / seconds


async def run(servers: Servers, events: int, batch: int = BATCH) -> Row:
    """Publish ``events`` mixed events, then ingest them on both sides (baseline first)."""
    await delete_streams(servers.nats_url)
    dsn = await servers.database("bench_ingest")
    nc = await nats.connect(servers.nats_url)
    timeout = 120 + events / 200
    try:
        await ensure_streams(nc)
        generated = mixed_events(events)
        say(f"ingest: publishing {events:,} mixed events")
        await publish(nc, generated)
        say("ingest: baseline")
        baseline = await run_baseline(nc, dsn, counts_by_source(generated), batch, timeout)
        say("ingest: carenet")
        kit = await run_kit(nc, dsn, events, batch, timeout)
    finally:
        await nc.close()
    return Row(
        workload=f"event ingest, {events:,} mixed events (batch {batch})",
        unit="events/s",
        better="higher",
        carenet=Side(kit),
        baseline=Side(baseline),
        note="3 streams, each side's 3 consumers concurrently",
    )


if __name__ == "__main__":
    from bench.__main__ import main

    main(["--only", "ingest", *sys.argv[1:]])
