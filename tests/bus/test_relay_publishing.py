"""The outbox relay against a real nats-server and PostgreSQL: refusals, order, re-publishes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from shared.kit.bus.outbox import OutboxRelay
from shared.kit.bus.streams import ensure_stream, stream_config
from shared.kit.observability.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PARKED,
    OUTBOX_RELAY_RETRYING,
)
from tests.bus.helpers import add_directly, notes_schema
from tests.conftest import eventually
from tests.example.services import NOTES


def outbox_row(site: str = "jinsha", padding: int = 0) -> tuple[UUID, str, str]:
    """An outbox row (event id, subject, body) as the unit of work writes one."""
    event_id = uuid4()
    body = json.dumps({"id": str(event_id), "site": site, "padding": "x" * padding})
    return event_id, f"evt.{site}.notes.note.added", body


async def insert_rows(pool: asyncpg.Pool, rows: list[tuple[UUID, str, str]]) -> None:
    """Commit ``rows`` to the outbox in one transaction, in order."""
    async with pool.acquire() as conn, conn.transaction():
        for row in rows:
            await conn.execute(
                "INSERT INTO outbox (event_id, subject, body) VALUES ($1, $2, $3)", *row
            )


async def stored_ids(nc: NatsClient, stream: str) -> list[str]:
    """The ``Nats-Msg-Id`` of every message in ``stream``, in stream order."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg(stream, seq)
        ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
    return ids


async def unpublished(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


@pytest.fixture
async def outbox(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await notes_schema(database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def run_relay(nc: NatsClient, database_url: str) -> AsyncIterator[Callable[..., OutboxRelay]]:
    """Start relays for the notes schema; each records the states it went through."""
    running: list[tuple[OutboxRelay, asyncio.Task[None]]] = []

    def start(**options: Any) -> OutboxRelay:
        states: list[str] = []
        relay = OutboxRelay(
            nats=nc,
            dsn=database_url,
            service="notes",
            schema="notes",
            poll_seconds=0.2,
            on_state=states.append,
            **options,
        )
        relay.states = states  # type: ignore[attr-defined]
        running.append((relay, asyncio.create_task(relay.run())))
        return relay

    yield start
    for relay, task in running:
        relay.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_publishing_many_batches_adds_no_nats_subscriptions(outbox, nc, run_relay):
    await ensure_stream(nc.jetstream(), stream_config("notes"))
    run_relay()
    await insert_rows(outbox, [outbox_row()])
    await eventually(lambda: _is_zero(unpublished(outbox)))
    subscriptions = len(nc._subs)

    for _ in range(30):  # one batch each
        await insert_rows(outbox, [outbox_row()])
        await eventually(lambda: _is_zero(unpublished(outbox)))

    assert len(await stored_ids(nc, "NOTES")) == 31
    assert len(nc._subs) == subscriptions


async def test_a_running_service_keeps_its_subscriptions_flat_while_publishing(start_service):
    notes = await start_service(NOTES)
    assert notes.broker is not None and notes.pool is not None
    connection = notes.broker.connection
    started = asyncio.get_running_loop().time()
    await add_directly(notes, "warm up")
    await eventually(lambda: _is_zero(unpublished(notes.pool)))
    subscriptions = len(connection._subs)

    for i in range(20):
        await add_directly(notes, f"note {i}")
        await eventually(lambda: _is_zero(unpublished(notes.pool)))
    # The consumer-lag watcher wakes every 5 s: let it run at least once more.
    await asyncio.sleep(max(0.0, started + 6 - asyncio.get_running_loop().time()))

    assert len(connection._subs) == subscriptions


async def _is_zero(value: Any) -> bool:
    return (await value) == 0


async def _parked(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT event_id, park_reason FROM outbox WHERE parked_at IS NOT NULL"
        )


@pytest.mark.parametrize("limit", ["max_payload", "max_payload_with_headers", "max_msg_size"])
async def test_an_event_jetstream_refuses_for_good_is_parked_and_the_events_after_it_go_on(
    outbox, nc, run_relay, limit
):
    config = stream_config("notes")
    if limit == "max_msg_size":
        config.max_msg_size = 4096
        too_big = 8000
    elif limit == "max_payload":
        too_big = nc.max_payload + 1000
    else:  # the body fits, the body with its headers does not
        too_big = nc.max_payload - 20 - len(outbox_row()[2])
    await ensure_stream(nc.jetstream(), config)
    before, refused, after = outbox_row(), outbox_row(padding=too_big), outbox_row()
    await insert_rows(outbox, [before, refused, after])
    OUTBOX_PARKED.labels("notes").set(0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    run_relay(publish_timeout=20.0, keep_published=timedelta(0))

    async def two_stored() -> bool:
        return len(await stored_ids(nc, "NOTES")) == 2

    await eventually(two_stored, timeout=30)
    # A refusal is an answer, not a silence: nothing waited for the 20 s publish timeout.
    assert loop.time() - started < 10
    assert await stored_ids(nc, "NOTES") == [str(before[0]), str(after[0])]
    await eventually(lambda: _equals(OUTBOX_PARKED.labels("notes")._value.get(), 1))
    # The relay purges published rows at once here (keep 0); the parked one stays.
    await eventually(lambda: _equals(_count(outbox), 1))
    parked = await _parked(outbox)
    assert [row["event_id"] for row in parked] == [refused[0]]
    assert "exceeds" in parked[0]["park_reason"] or "payload" in parked[0]["park_reason"]


async def _equals(value: Any, expected: Any) -> bool:
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value == expected)


async def _count(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))


async def test_the_stream_keeps_the_outbox_order_when_a_publish_in_the_middle_fails(
    outbox, nc, run_relay
):
    js = nc.jetstream()
    # The operator has (for now) narrowed the stream to one site: likang events find no stream.
    narrowed = stream_config("notes")
    narrowed.subjects = ["evt.jinsha.notes.>"]
    await js.add_stream(narrowed)
    first, middle, last = outbox_row("jinsha"), outbox_row("likang"), outbox_row("jinsha")
    await insert_rows(outbox, [first, middle, last])

    relay = run_relay()

    async def first_published_and_middle_refused() -> bool:
        async with outbox.acquire() as conn:
            marked = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
            )
        return marked == 1 and "retrying" in relay.states  # type: ignore[attr-defined]

    await eventually(first_published_and_middle_refused)
    await js.update_stream(stream_config("notes"))
    await eventually(lambda: _is_zero(unpublished(outbox)), timeout=30)

    assert await stored_ids(nc, "NOTES") == [str(first[0]), str(middle[0]), str(last[0])]


async def test_an_event_published_but_not_marked_is_not_stored_again_after_the_window(
    outbox, nc, run_relay, service_process
):
    js = nc.jetstream()
    await js.add_stream(stream_config("notes"))
    await add_directly(outbox, "published, then the relay died")
    crashing = service_process("tests.example", "notes").start(
        CARENET_CRASH_AT="relay.after_publish"
    )
    assert crashing.wait(timeout=30) == 70, crashing.output()
    assert len(await stored_ids(nc, "NOTES")) == 1
    # The relay stays away for longer than the stream remembers message ids (made short here).
    short_window = (await js.stream_info("NOTES")).config
    short_window.duplicate_window = 1.0
    await js.update_stream(short_window)
    await asyncio.sleep(2.5)

    run_relay()

    await eventually(lambda: _is_zero(unpublished(outbox)))
    assert len(await stored_ids(nc, "NOTES")) == 1
    async with outbox.acquire() as conn:
        assert await conn.fetchval("SELECT stream_seq FROM outbox") == 1


async def test_the_backlog_is_measured_while_the_relay_cannot_publish(outbox, run_relay):
    # No NOTES stream at all: every publish finds no responders.
    OUTBOX_BACKLOG.labels("notes").set(-1)
    await insert_rows(outbox, [outbox_row() for _ in range(3)])

    relay = run_relay()

    async def measured() -> bool:
        return OUTBOX_BACKLOG.labels("notes")._value.get() == 3

    await eventually(measured)
    assert "retrying" in relay.states  # type: ignore[attr-defined]
    assert OUTBOX_RELAY_RETRYING.labels("notes")._value.get() == 1
    assert OUTBOX_OLDEST_AGE.labels("notes")._value.get() > 0
