"""The outbox and inbox together: nothing lost, nothing doubled, across crashes and outages."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from uuid import UUID

import asyncpg
import nats
import pytest

from shared.local.devservers import NatsServer
from tests.bus.helpers import (
    add,
    add_directly,
    body,
    counter,
    note_event,
    notes_schema,
    publish_raw,
    stream_messages,
    tallied_rows,
)
from tests.conftest import eventually
from tests.example.services import NOTES, tally


async def test_a_command_writes_a_row_and_an_event_that_another_service_applies_once(
    start_service, nc
):
    notes = await start_service(NOTES)
    counting = await start_service(tally())

    reply = await add(nc, "first family support group")

    assert reply.ok, reply
    note_id = UUID(reply.result["note_id"])
    async with notes.pool.acquire() as conn:
        assert await conn.fetchval("SELECT text FROM notes WHERE note_id = $1", note_id) == (
            "first family support group"
        )
        outbox = await conn.fetch("SELECT subject, body FROM outbox")
    assert [r["subject"] for r in outbox] == ["evt.jinsha.notes.note.added"]
    event = json.loads(outbox[0]["body"])
    assert event["type"] == "notes.note.added"
    assert event["source"] == "notes/jinsha"
    assert event["subject"] == str(note_id)
    assert event["data"]["note_id"] == str(note_id)
    await eventually(lambda: tallied_rows(counting.pool))
    await asyncio.sleep(0.5)  # would any second delivery arrive?
    assert await counter(counting.pool) == 1
    assert await tallied_rows(counting.pool) == 1
    stored = await stream_messages(nc, "NOTES")
    assert len(stored) == 1
    assert stored[0].headers["Nats-Msg-Id"] == event["id"]


async def test_relay_killed_after_publishing_and_before_marking_publishes_again_and_is_applied_once(
    start_service, service_process, database_url, nc
):
    # The note is committed by the service's own code path while its process is not running.
    pool = await notes_schema(database_url)
    note_id = await add_directly(pool, "written before the crash")

    crashing = service_process("tests.example", "notes").start(
        CARENET_CRASH_AT="relay.after_publish"
    )
    assert crashing.wait(timeout=90) == 70, crashing.output()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
    assert len(await stream_messages(nc, "NOTES")) == 1  # published, but not marked

    counting = await start_service(tally())
    service_process("tests.example", "notes").start()

    async def marked() -> bool:
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT published_at IS NOT NULL FROM outbox") is True

    await eventually(marked)
    assert len(await stream_messages(nc, "NOTES")) == 1  # the second publish was deduplicated
    await eventually(lambda: tallied_rows(counting.pool))
    await asyncio.sleep(0.5)
    assert await counter(counting.pool) == 1
    async with counting.pool.acquire() as conn:
        assert await conn.fetchval("SELECT note_id FROM tallied") == note_id
    await pool.close()


async def test_events_committed_while_nats_is_down_are_all_published_in_order_after_it_restarts(
    tmp_path: Path, database_url, settings_for, start_service
):
    own = NatsServer(tmp_path / "nats").start()
    try:
        notes = await start_service(NOTES, NATS_URL=own.url)
        counting = await start_service(tally(batch_size=20), NATS_URL=own.url)
        before = await add_directly(notes, "before the outage")
        await eventually(lambda: tallied_rows(counting.pool))

        own.stop()
        written = [await add_directly(notes, f"during the outage {i}") for i in range(25)]
        async with notes.pool.acquire() as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 25
            )
        own.start()

        await eventually(lambda: _equals(counter(counting.pool), 26), timeout=30)
        client = await nats.connect(own.url)
        try:
            stored = await stream_messages(client, "NOTES")
        finally:
            await client.close()
        assert [UUID(json.loads(m.data)["subject"]) for m in stored] == [before, *written]
        async with counting.pool.acquire() as conn:
            applied = [r["note_id"] for r in await conn.fetch("SELECT note_id FROM tallied")]
        assert sorted(applied) == sorted([before, *written])
        assert await tallied_rows(counting.pool) == 26
    finally:
        own.stop()


async def _equals(value, expected) -> bool:
    return (await value) == expected


@pytest.mark.parametrize("batch_size", [1, 50])
async def test_the_same_event_delivered_three_times_changes_the_consumer_once(
    start_service, nc, batch_size
):
    await start_service(NOTES)  # owns the NOTES stream
    counting = await start_service(tally(batch_size=batch_size))
    event = note_event()
    # Three copies with different message ids: JetStream keeps all three, as after a replay.
    for _ in range(3):
        await publish_raw(nc, event.nats_subject, body(event))
    other = note_event()
    await publish_raw(nc, other.nats_subject, body(other))

    await eventually(lambda: _equals(tallied_rows(counting.pool), 2))
    await asyncio.sleep(0.5)
    assert await counter(counting.pool) == 2
    async with counting.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id) == 1


async def test_a_consumer_killed_after_commit_and_before_ack_applies_nothing_twice(
    start_service, service_process, nc
):
    notes = await start_service(NOTES)
    for i in range(10):
        assert (await add(nc, f"note {i}")).ok
    js = nc.jetstream()

    async def stored() -> bool:
        return (await js.stream_info("NOTES")).state.messages == 10

    await eventually(stored, timeout=30)
    crashing = service_process("tests.example", "tally", "5").start(
        CARENET_CRASH_AT="consumer.after_commit"
    )
    # Starting on a loaded two-core CI machine (imports, migrations, the lead) can take longer
    # than the work; the bound is generous, what is asserted is the exit code.
    try:
        code = crashing.wait(timeout=90)
    except AssertionError as stuck:
        info = await js.consumer_info("NOTES", "tally_notes-events")
        raise AssertionError(f"{stuck}\nits durable: {info}") from None
    assert code == 70, crashing.output()
    service_process("tests.example", "tally", "5").start()

    async def tally_count() -> int:
        conn = await asyncpg.connect(
            notes.settings.database_url, server_settings={"search_path": "tally"}
        )
        try:
            return int(await conn.fetchval("SELECT n FROM counter"))
        finally:
            await conn.close()

    await eventually(lambda: _equals(tally_count(), 10), timeout=90)
    await asyncio.sleep(1.0)
    assert await tally_count() == 10
