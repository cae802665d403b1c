"""What a database failure answers: an outage is ``unavailable`` (and a repeat with the same
command_id is applied once), a collision is retried, a handler's own error is ``internal``."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any
from uuid import uuid4

from pydantic import Field

from shared.kit.bus.requests import request
from shared.kit.contracts import BusinessCommand, command
from shared.kit.contracts.replies import Reply
from shared.kit.db.uow import UnitOfWork
from shared.kit.identity import EVERY_ROLE
from shared.kit.service import ServiceDefinition
from shared.local.devservers import PostgresServer
from tests.example.services import NOTES
from tests.identity import HEAD_OFFICE

ATTEMPTS: collections.Counter[str] = collections.Counter()


@command("flaky", "flaky_note", access=EVERY_ROLE)
class FlakyNote(BusinessCommand):
    """Fails in a chosen way on its first ``failures`` attempts, then writes a row."""

    how: str = Field(max_length=32)
    failures: int = 1


async def flaky_note(cmd: FlakyNote, uow: UnitOfWork) -> dict[str, Any]:
    key = str(cmd.command_id)
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] <= cmd.failures:
        if cmd.how == "timeout":
            raise TimeoutError("a handler that times out on something of its own")
        if cmd.how == "serialization":
            # A real serialization failure, raised by PostgreSQL itself.
            await uow.conn.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' "
                "USING ERRCODE = 'serialization_failure'; END $$"
            )
        if cmd.how == "deadlock":
            await uow.conn.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = 'deadlock_detected'; END $$"
            )
    await uow.conn.execute("CREATE TABLE IF NOT EXISTS flaky_notes (command_id uuid)")
    await uow.conn.execute("INSERT INTO flaky_notes VALUES ($1)", cmd.command_id)
    return {"attempts": ATTEMPTS[key]}


FLAKY = ServiceDefinition(name="flaky", commands={"flaky_note": flaky_note})


async def _flaky(nc, how: str, failures: int = 1) -> tuple[str, Reply]:
    command_id = str(uuid4())
    body = {"command_id": command_id, "how": how, "failures": failures}
    return command_id, await request(
        nc, "cmd", "jinsha", "flaky", "flaky_note", body, token=HEAD_OFFICE
    )


async def _rows(runtime) -> int:
    async with runtime.pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('flaky_notes') IS NOT NULL")
        return int(await conn.fetchval("SELECT count(*) FROM flaky_notes")) if exists else 0


async def test_a_handler_raising_timeout_error_with_the_database_fine_is_internal(
    start_service, nc
):
    flaky = await start_service(FLAKY)
    _, reply = await _flaky(nc, "timeout")
    assert reply.error is not None and reply.error.code == "internal"
    assert "reference" in reply.error.message
    assert await _rows(flaky) == 0


async def test_a_serialization_failure_once_is_retried_and_answers_ok(start_service, nc):
    flaky = await start_service(FLAKY)
    command_id, reply = await _flaky(nc, "serialization")
    assert reply.ok, reply
    assert reply.result == {"attempts": 2}
    assert ATTEMPTS[command_id] == 2
    _, deadlocked = await _flaky(nc, "deadlock")
    assert deadlocked.ok, deadlocked
    assert await _rows(flaky) == 2


async def test_a_collision_that_keeps_happening_is_unavailable_not_internal(start_service, nc):
    flaky = await start_service(FLAKY)
    command_id, reply = await _flaky(nc, "serialization", failures=100)
    assert reply.error is not None and reply.error.code == "unavailable", reply
    assert 2 <= ATTEMPTS[command_id] <= 10
    assert await _rows(flaky) == 0


async def test_requests_during_a_postgresql_stop_answer_unavailable_never_internal(
    start_service, nc, tmp_path: Path
):
    own = PostgresServer(tmp_path / "pg", fsync=False).start()
    try:
        notes = await start_service(NOTES, DATABASE_URL=own.dsn)
        replies: dict[str, list[Reply]] = collections.defaultdict(list)
        bodies: dict[str, dict[str, Any]] = {}
        stop = asyncio.Event()

        async def client(n: int) -> None:
            while not stop.is_set():
                command_id = str(uuid4())
                bodies[command_id] = {"command_id": command_id, "text": f"c{n}"}
                reply = await request(
                    nc,
                    "cmd",
                    "jinsha",
                    "notes",
                    "add_note",
                    bodies[command_id],
                    timeout=20,
                    token=HEAD_OFFICE,
                )
                replies[command_id].append(reply)

        clients = [asyncio.create_task(client(n)) for n in range(40)]
        # Each stop interrupts commits in flight at a different point; about one in eight
        # stops catches one inside asyncpg's protocol (InternalClientError).
        for _ in range(5):
            await asyncio.sleep(0.5)
            await asyncio.to_thread(own.stop)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(own.start)
        await asyncio.sleep(0.7)
        stop.set()
        await asyncio.gather(*clients)

        codes = collections.Counter(
            r.error.code if r.error else "ok" for sent in replies.values() for r in sent
        )
        assert codes["ok"] > 0 and codes["unavailable"] > 0, codes
        assert set(codes) <= {"ok", "unavailable"}, codes
        # Whatever was unavailable, sent again with its command_id, is applied exactly once.
        for command_id, sent in replies.items():
            if not sent[-1].ok:
                again = await request(
                    nc, "cmd", "jinsha", "notes", "add_note", bodies[command_id], token=HEAD_OFFICE
                )
                assert again.ok, again
        assert notes.pool is not None
        async with notes.pool.acquire() as conn:
            written = await conn.fetchval("SELECT count(*) FROM notes")
        assert written == len(bodies)
    finally:
        own.stop()
