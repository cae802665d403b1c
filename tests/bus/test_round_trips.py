"""How many round trips to PostgreSQL one command costs, counted by asyncpg's query logger.

A round trip is one statement sent and answered (a transaction's BEGIN and COMMIT included,
and whatever the pool sends when the connection is released). The kit's own share is what
matters here: the handlers' statements are theirs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery
from nats.aio.client import Client as NatsClient

from shared.kit.bus.outbox import OutboxRelay
from shared.kit.bus.requests import AUTHORIZATION, RequestEndpoints
from shared.kit.bus.streams import ensure_stream, stream_config
from shared.kit.db.pool import connect, create_pool
from shared.kit.identity import TokenVerifier
from shared.kit.observability.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from tests.bus.helpers import add_directly, notes_schema
from tests.example.services import NOTES
from tests.identity import HEAD_OFFICE, JWKS

CALLER = {AUTHORIZATION: f"Bearer {HEAD_OFFICE}"}
"""Verifying the token costs no round trip: the keys are in memory."""
Counted = tuple[RequestEndpoints, asyncpg.Pool, list[str]]


def _add(text: str) -> bytes:
    return json.dumps({"command_id": str(uuid4()), "text": text}).encode()


@pytest.fixture
async def counted(database_url: str) -> AsyncIterator[Counted]:
    """The notes service's endpoints on a one-connection pool whose statements are written
    down, after one command has warmed the connection (asyncpg reads the types of a
    statement's arguments from the catalogue once per connection)."""
    migrated = await notes_schema(database_url)
    await migrated.close()
    pool = await create_pool(database_url, "notes", application="round-trips", max_size=1)
    statements: list[str] = []

    def note(query: LoggedQuery) -> None:
        statements.append(" ".join(query.query.split()))

    async with pool.acquire() as conn:
        conn.add_query_logger(note)
    endpoints = RequestEndpoints(
        service="notes",
        schema="notes",
        pool=pool,
        zone=ZoneInfo("Asia/Hong_Kong"),
        sites=None,
        dsn=database_url,
        commands=dict(NOTES.commands),
        verifier=TokenVerifier([str(JWKS)]),
    )
    warm = await endpoints.handle("cmd.jinsha.notes.add_note", _add("warm up"), CALLER)
    assert warm.ok, warm.error
    statements.clear()
    yield endpoints, pool, statements
    await pool.close()


async def test_a_command_with_one_row_and_one_event_costs_five_round_trips(
    counted: Counted,
) -> None:
    endpoints, pool, statements = counted
    reply = await endpoints.handle("cmd.jinsha.notes.add_note", _add("weekly group"), CALLER)

    assert reply.ok, reply.error
    # BEGIN, the command_id's claim, the handler's own row, then the reply, the outbox row
    # and the relay's wake-up in one statement, and COMMIT; releasing the connection to the
    # pool sends nothing.
    assert len(statements) == 5, "\n".join(statements)
    assert statements[0].startswith("BEGIN")
    assert statements[-1].startswith("COMMIT")
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        stored = await conn.fetchrow(
            "SELECT reply FROM command_log WHERE reply->'result'->>'note_id' = $1",
            reply.result["note_id"],
        )
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
    assert stored["reply"]["ok"] is True and outbox == 2


async def test_a_command_that_records_no_event_writes_its_reply_without_touching_the_outbox(
    counted: Counted,
) -> None:
    endpoints, _, statements = counted
    added = await endpoints.handle("cmd.jinsha.notes.add_note", _add("a"), CALLER)
    statements.clear()
    body = {"command_id": str(uuid4()), "note_id": added.result["note_id"]}

    reply = await endpoints.handle(
        "cmd.jinsha.notes.delete_note", json.dumps(body).encode(), CALLER
    )

    assert reply.ok, reply.error
    assert len(statements) == 5, "\n".join(statements)
    assert not any("outbox" in s or "pg_notify" in s for s in statements)


async def test_a_repeat_costs_no_more_than_the_command_and_writes_nothing(
    counted: Counted,
) -> None:
    endpoints, _, statements = counted
    body = _add("again")
    first = await endpoints.handle("cmd.jinsha.notes.add_note", body, CALLER)
    statements.clear()

    again = await endpoints.handle("cmd.jinsha.notes.add_note", body, CALLER)

    assert again == first
    # BEGIN, the claim that finds the id taken, reading the first reply, ROLLBACK.
    assert len(statements) == 4, "\n".join(statements)


async def test_the_relay_counts_its_backlog_at_most_every_few_seconds_not_on_every_wake_up(
    nc: NatsClient, database_url: str
) -> None:
    pool = await notes_schema(database_url)
    await ensure_stream(nc.jetstream(), stream_config("notes"))
    conn = await connect(database_url, "notes", application="relay-under-count")
    counts: list[str] = []
    conn.add_query_logger(lambda q: counts.append(q.query) if "count(*)" in q.query else None)
    relay = OutboxRelay(nats=nc, dsn=database_url, service="notes", schema="notes")
    OUTBOX_BACKLOG.labels("notes").set(-1)
    try:
        for text in ("one", "two", "three", "four", "five"):
            await add_directly(pool, text)  # a command's commit wakes the relay: one pass
            assert await relay.drain(conn) == 1
        # The first pass counted; the others saw the outbox emptied, which is a backlog of 0.
        assert len(counts) == 1
        assert OUTBOX_BACKLOG.labels("notes")._value.get() == 0
        assert OUTBOX_OLDEST_AGE.labels("notes")._value.get() == 0
    finally:
        await conn.close()
        await pool.close()
