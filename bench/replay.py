"""The rebuild baseline, run as its own process: ``python -m bench.replay NATS_URL DSN``.

In one transaction on schema ``baseline`` (reporting's tables): empty the read models, then
for each source stream replay every message with a nats-py ordered consumer up to the
stream's last sequence at the start, validate the envelope and payload, and write the rows of
``services.reporting.store.APPLY`` with one ``executemany`` per statement every 1,000 events.
Prints ``{"read": n, "seconds": s}`` (the replay's own time, as the rebuild's line reports).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import asyncpg
import nats
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from services.reporting import store
from shared.kit.bus.streams import stream_name
from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.envelope import EventEnvelope
from shared.kit.contracts.public import load_public_contracts

FLUSH_EVERY = 1000


async def _flush(conn: asyncpg.Connection, by_sql: dict[str, list[tuple[Any, ...]]]) -> None:
    for sql, rows in by_sql.items():
        await conn.executemany(sql, rows)
    by_sql.clear()


async def replay(nats_url: str, dsn: str) -> dict[str, float]:
    load_public_contracts()
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "baseline"})
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    read = 0
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for table in store.READ_MODELS:
                await conn.execute(f"DELETE FROM {table}")
            for source, apply_table in store.APPLY.items():
                try:
                    info = await js.stream_info(stream_name(source))
                except NotFoundError:
                    continue
                last = info.state.last_seq
                if info.state.messages == 0:
                    continue
                sub = await js.subscribe(
                    f"evt.*.{source}.>",
                    stream=stream_name(source),
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.ALL,
                    pending_msgs_limit=100_000,
                )
                by_sql: dict[str, list[tuple[Any, ...]]] = {}
                pending = 0
                try:
                    while True:
                        msg = await sub.next_msg(timeout=10)
                        read += 1
                        envelope = EventEnvelope.model_validate(json.loads(msg.data))
                        apply = apply_table.get(envelope.type)
                        if apply is not None:
                            data = CATALOGUE.event_model(envelope.type).model_validate(
                                envelope.data
                            )
                            sql, args = apply(envelope, data)
                            by_sql.setdefault(sql, []).append(args)
                            pending += 1
                        if pending >= FLUSH_EVERY:
                            await _flush(conn, by_sql)
                            pending = 0
                        if msg.metadata.sequence.stream >= last:
                            await _flush(conn, by_sql)
                            break
                finally:
                    await sub.unsubscribe()
        seconds = time.perf_counter() - started
    finally:
        await nc.close()
        await conn.close()
    return {"read": read, "seconds": seconds}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(replay(sys.argv[1], sys.argv[2]))))
