"""Reporting's event ingest: the kit's batch consumer against a hand-written baseline.

Both read the same N synthetic intake events from one JetStream stream and do the same work
into the same reporting tables: parse and validate each event, claim its id in the inbox and
upsert its read-model row, one transaction per batch, then acknowledge. The baseline is raw
nats-py (a durable pull ``fetch``) plus asyncpg ``executemany`` per event type; the kit is
``EventConsumer`` running reporting's real ``intake-events`` subscription. Embedded nats-server
and PostgreSQL (``shared.devservers``), started and removed by the script.

    python bench/ingest.py            # 20,000 events
    python bench/ingest.py -n 50000 --batch 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import asyncpg
import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.reporting import handlers
from services.reporting.rebuild import MIGRATIONS
from shared.bus.consumer import EventConsumer, Subscription
from shared.bus.streams import dlq_config, ensure_stream, stream_config
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.envelope import EventEnvelope
from shared.db import migrations
from shared.db.pool import create_pool
from shared.devservers import NatsServer, PostgresServer

SITES = ("likang", "nanyuan", "jinsha", "longjin")
SOURCES = ("hospital", "residents_committee", "self", "street_office")
MODES = ("phone", "home_visit", "office_interview")


def synthetic(n: int) -> list[EventEnvelope]:
    """A mix of the events reporting reads most: people, referrals, contacts."""
    events = []
    first = date(2026, 1, 1)
    for i in range(n):
        site = SITES[i % len(SITES)]
        on = (first + timedelta(days=i % 300)).isoformat()
        kind = i % 3
        if kind == 0:
            event_type, data = (
                "intake.person.registered",
                {
                    "person_id": str(uuid4()),
                    "roles": ["family_carer"],
                    "age_band": "45_54",
                    "registered_on": on,
                },
            )
        elif kind == 1:
            event_type, data = (
                "intake.referral.received",
                {
                    "referral_id": str(uuid4()),
                    "source": SOURCES[i % 4],
                    "urgency": "routine",
                    "received_on": on,
                },
            )
        else:
            event_type, data = (
                "intake.case.contact_logged",
                {
                    "contact_id": str(uuid4()),
                    "case_id": str(uuid4()),
                    "person_id": str(uuid4()),
                    "mode": MODES[i % 3],
                    "minutes": 30 + i % 60,
                    "contact_on": on,
                },
            )
        events.append(
            EventEnvelope(
                type=event_type,
                source=f"intake/{site}",
                site=site,
                time=datetime.now(UTC),
                subject=str(uuid4()),
                data=data,
            )
        )
    return events


async def publish(nc: Any, events: list[EventEnvelope]) -> None:
    js = nc.jetstream()
    window = 500
    for start in range(0, len(events), window):
        acks = [
            await js.publish_async(
                e.nats_subject, e.model_dump_json().encode(), headers={"Nats-Msg-Id": str(e.id)}
            )
            for e in events[start : start + window]
        ]
        await asyncio.gather(*acks)


async def fresh_schema(dsn: str, schema: str) -> asyncpg.Pool:
    pool = await create_pool(dsn, schema, application=f"bench-{schema}")
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await migrations.migrate(conn, schema, MIGRATIONS)
    return pool


async def rows_in(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM inbox"))


async def run_kit(nc: Any, dsn: str, n: int, batch: int) -> float:
    pool = await fresh_schema(dsn, "reporting")
    subscription = Subscription(
        name="intake-events",
        source="intake",
        handlers=handlers.handlers_of("intake"),
        batch_size=batch,
    )
    consumer = EventConsumer(
        subscription=subscription,
        service="reporting",
        schema="reporting",
        pool=pool,
        zone=ZoneInfo("Asia/Hong_Kong"),
        sites=None,
    )
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run(nc))
    while await rows_in(pool) < n:  # noqa: ASYNC110 - polling the database is the point
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await pool.close()
    return n / seconds


BASELINE_SQL = {
    "intake.person.registered": (
        """INSERT INTO people (person_id, site, roles, registered_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT (person_id) DO UPDATE SET roles = EXCLUDED.roles""",
        lambda e, d: (d.person_id, e.site, list(d.roles), d.registered_on),
    ),
    "intake.referral.received": (
        """INSERT INTO referrals (referral_id, site, source, received_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT (referral_id) DO UPDATE SET site = EXCLUDED.site,
               source = EXCLUDED.source, received_on = EXCLUDED.received_on""",
        lambda e, d: (d.referral_id, e.site, d.source, d.received_on),
    ),
    "intake.case.contact_logged": (
        """INSERT INTO case_contacts (contact_id, site, mode, minutes, contact_on)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (contact_id) DO NOTHING""",
        lambda e, d: (d.contact_id, e.site, d.mode, d.minutes, d.contact_on),
    ),
}


async def run_baseline(nc: Any, dsn: str, n: int, batch: int) -> float:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    pool = await fresh_schema(dsn, "baseline")
    js = nc.jetstream()
    durable = f"baseline_{uuid4().hex[:8]}"
    await js.add_consumer(
        "INTAKE",
        ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=batch * 4,
        ),
    )
    pull = await js.pull_subscribe_bind(durable=durable, stream="INTAKE")
    done = 0
    started = time.perf_counter()
    while done < n:
        try:
            messages = await pull.fetch(batch, timeout=1.0)
        except TimeoutError:
            continue
        by_type: dict[str, list[tuple[Any, ...]]] = {}
        ids = []
        for msg in messages:
            envelope = EventEnvelope.model_validate(json.loads(msg.data))
            data = CATALOGUE.event_model(envelope.type).model_validate(envelope.data)
            _, args = BASELINE_SQL[envelope.type]
            by_type.setdefault(envelope.type, []).append(args(envelope, data))
            ids.append(envelope.id)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])
                   ON CONFLICT DO NOTHING""",
                durable,
                ids,
            )
            for event_type, rows in by_type.items():
                await conn.executemany(BASELINE_SQL[event_type][0], rows)
        for msg in messages:
            await msg.ack()
        done += len(messages)
    seconds = time.perf_counter() - started
    await pull.unsubscribe()
    await pool.close()
    return n / seconds


async def main(n: int, batch: int) -> None:
    with tempfile.TemporaryDirectory(prefix="carenet-bench-") as root:
        nats_server = NatsServer(Path(root) / "nats").start()
        postgres = PostgresServer(Path(root) / "pg", fsync=False).start()
        try:
            nc = await nats.connect(nats_server.url)
            js = nc.jetstream()
            await ensure_stream(js, stream_config("intake"))
            await ensure_stream(js, dlq_config())
            await publish(nc, synthetic(n))
            baseline = await run_baseline(nc, postgres.dsn, n, batch)
            kit = await run_kit(nc, postgres.dsn, n, batch)
            await nc.close()
        finally:
            postgres.stop()
            nats_server.stop()
    print(f"events: {n:,}, batch {batch}")
    print(f"baseline (nats-py fetch + executemany, one transaction per batch): {baseline:,.0f}/s")
    print(f"kit (EventConsumer, reporting's handlers, one transaction per batch): {kit:,.0f}/s")
    print(f"ratio kit/baseline: {kit / baseline:.2f} (target >= 0.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=20_000, help="events to ingest")
    parser.add_argument("--batch", type=int, default=300, help="events per fetch/transaction")
    options = parser.parse_args()
    asyncio.run(main(options.n, options.batch))
