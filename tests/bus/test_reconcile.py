"""`carenet reconcile`: what the stream lost is found back from the kept outbox, exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter

import asyncpg
from nats.aio.client import Client as NatsClient

from shared.kit.bus.reconcile import reconcile
from shared.kit.bus.streams import ensure_stream, stream_config
from tests.bus.helpers import add_directly, counter
from tests.conftest import REPO, eventually, service_env
from tests.example.services import NOTES, tally


async def stored_events(nc: NatsClient, stream: str) -> list[str]:
    """The event id in the body of every message the stream holds, in stream order."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except Exception:  # noqa: BLE001 - a deleted sequence
            continue
        ids.append(json.loads(msg.data)["id"])
    return ids


async def outbox_ids(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT event_id FROM outbox ORDER BY seq")
    return [str(row["event_id"]) for row in rows]


async def _all_published(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_events_deleted_from_the_stream_are_published_again_and_applied_once(
    start_service, nc, database_url
):
    notes = await start_service(NOTES)
    counting = await start_service(tally())
    for i in range(5):
        await add_directly(notes, f"note {i}")
    await eventually(lambda: _all_published(notes.pool))
    await eventually(lambda: _equals(counter(counting.pool), 5))
    js = nc.jetstream()
    await js.delete_msg("NOTES", 2)
    await js.delete_msg("NOTES", 4)

    result = await reconcile(nc, database_url, "notes")

    assert (result.kept, result.found, result.republished, result.parked) == (5, 3, 2, 0)
    stored = Counter(await stored_events(nc, "NOTES"))
    assert stored == Counter(await outbox_ids(notes.pool))  # each event once
    again = await reconcile(nc, database_url, "notes")
    assert (again.found, again.republished) == (5, 0)
    await asyncio.sleep(1.0)  # would the found-back copies change the consumer?
    assert await counter(counting.pool) == 5


async def test_a_lost_stream_is_filled_again_in_outbox_order(start_service, nc, database_url):
    notes = await start_service(NOTES)
    for i in range(5):
        await add_directly(notes, f"note {i}")
    await eventually(lambda: _all_published(notes.pool))
    js = nc.jetstream()
    await js.delete_stream("NOTES")
    await ensure_stream(js, stream_config("notes"))

    result = await reconcile(nc, database_url, "notes")

    assert (result.kept, result.found, result.republished) == (5, 0, 5)
    assert await stored_events(nc, "NOTES") == await outbox_ids(notes.pool)
    async with notes.pool.acquire() as conn:
        assert [
            r["stream_seq"] for r in await conn.fetch("SELECT stream_seq FROM outbox ORDER BY seq")
        ] == [
            1,
            2,
            3,
            4,
            5,
        ]


async def test_the_reconcile_command_prints_what_it_found_and_did(
    start_service, nc, nats_url, database_url
):
    notes = await start_service(NOTES)
    for i in range(3):
        await add_directly(notes, f"note {i}")
    await eventually(lambda: _all_published(notes.pool))
    await nc.jetstream().delete_msg("NOTES", 1)

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        "reconcile",
        "--service",
        "notes",
        env={**os.environ, **service_env(nats_url, database_url), "PYTHONPATH": str(REPO)},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "notes: 3 kept, 2 found in stream, 1 re-published, 0 parked"
    assert Counter(await stored_events(nc, "NOTES")) == Counter(await outbox_ids(notes.pool))


async def _equals(value, expected) -> bool:
    return (await value) == expected
