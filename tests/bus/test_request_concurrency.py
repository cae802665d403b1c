"""An instance handles several requests at once, never more than its bound, keeps the
at-most-once rule for concurrent repeats, and answers every request it took when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from shared.kit.bus.requests import request
from shared.kit.config import ConfigError, Settings
from shared.kit.contracts.replies import Reply
from shared.kit.db.uow import UnitOfWork
from shared.kit.service import ServiceDefinition, ServiceRuntime
from tests.bus.helpers import add
from tests.conftest import eventually, started_runtime
from tests.example.services import NOTES, AddNote, add_note
from tests.identity import HEAD_OFFICE


class Gate:
    """Holds add_note's handlers inside until opened, counting how many are in at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.peak = 0
        self.opened = asyncio.Event()

    async def add_note(self, cmd: AddNote, uow: UnitOfWork) -> dict[str, Any]:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await self.opened.wait()
            return await add_note(cmd, uow)
        finally:
            self.inside -= 1


@pytest.fixture
def gate() -> Iterator[Gate]:
    yield Gate()


def gated_notes(gate: Gate) -> ServiceDefinition:
    return ServiceDefinition(
        name="notes",
        migrations=NOTES.migrations,
        commands={**NOTES.commands, "add_note": gate.add_note},
        queries=NOTES.queries,
    )


async def _rows(runtime: ServiceRuntime) -> int:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM notes"))


async def _is(value: int, expected: int) -> bool:
    return value == expected


async def _all_delivered(nc: NatsClient, runtime: ServiceRuntime) -> None:
    """Once this returns, every request ``nc`` sent so far has reached the instance's client:
    the server passes them on as it reads them, before it answers the instance's PING."""
    await nc.flush()
    assert runtime.broker is not None
    await runtime.broker.connection.flush()


async def test_an_instance_handles_up_to_its_bound_of_requests_at_once_and_never_more(
    start_service, nc, gate
):
    notes = await start_service(gated_notes(gate), CARENET_MAX_CONCURRENT_REQUESTS="8")
    sending = [asyncio.create_task(add(nc, f"note {i}")) for i in range(64)]

    await eventually(lambda: _is(gate.inside, 8))
    await _all_delivered(nc, notes)
    # Every request is at the instance now; without a bound the rest would walk in.
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert gate.inside == 8 and notes.endpoints.in_hand == 8
    gate.opened.set()
    replies = await asyncio.gather(*sending)

    assert all(r.ok for r in replies), [r.error for r in replies if not r.ok]
    assert gate.peak == 8
    assert await _rows(notes) == 64


async def test_concurrent_repeats_of_one_command_id_wait_for_the_first_and_write_once(
    start_service, nc, gate
):
    notes = await start_service(gated_notes(gate), CARENET_MAX_CONCURRENT_REQUESTS="16")
    payload = {"command_id": str(uuid4()), "text": "one"}
    sending = [
        asyncio.create_task(
            request(nc, "cmd", "jinsha", "notes", "add_note", payload, token=HEAD_OFFICE)
        )
        for _ in range(32)
    ]

    # One repeat holds the claim and waits at the gate; fifteen more are in hand, waiting for
    # the claim in PostgreSQL; none of them runs the handler.
    async def all_in_hand() -> bool:
        return notes.endpoints.in_hand == 16 and gate.inside == 1

    await eventually(all_in_hand)
    gate.opened.set()
    replies = await asyncio.gather(*sending)

    assert all(r.ok for r in replies)
    assert len({r.result["note_id"] for r in replies}) == 1
    assert gate.peak == 1
    assert await _rows(notes) == 1


async def test_a_stop_finishes_the_requests_in_hand_and_those_queued_before_the_pool_closes(
    settings_for: Callable[..., Settings], nc, gate
):
    notes = await started_runtime(
        settings_for, gated_notes(gate), CARENET_MAX_CONCURRENT_REQUESTS="4"
    )
    sending = [asyncio.create_task(add(nc, f"note {i}")) for i in range(20)]
    await eventually(lambda: _is(gate.inside, 4))
    await _all_delivered(nc, notes)

    stopping = asyncio.create_task(notes.stop())
    await eventually(lambda: _is(len(notes.endpoints._subscriptions), 0))
    gate.opened.set()
    replies: list[Reply] = await asyncio.gather(*sending)
    await stopping

    assert all(r.ok for r in replies), [r.error for r in replies if not r.ok]
    assert gate.peak == 4


async def test_a_stop_that_runs_out_of_time_answers_every_request_unavailable_at_once(
    settings_for: Callable[..., Settings], nc, gate, database_url
):
    notes = await started_runtime(
        settings_for,
        gated_notes(gate),
        CARENET_MAX_CONCURRENT_REQUESTS="4",
        CARENET_GRACEFUL_TIMEOUT_SECONDS="1",
    )
    sending = [
        asyncio.create_task(
            request(
                nc,
                "cmd",
                "jinsha",
                "notes",
                "add_note",
                {"command_id": str(uuid4()), "text": f"note {i}"},
                timeout=30,
                token=HEAD_OFFICE,
            )
        )
        for i in range(10)
    ]
    await eventually(lambda: _is(gate.inside, 4))
    await _all_delivered(nc, notes)

    await notes.stop()  # the gate never opens
    replies: list[Reply] = await asyncio.gather(*sending)

    # Four were cut short (rolled back), six never started: all hear so from the service,
    # not from their own 30 s timeout.
    assert all(r.error is not None and r.error.code == "unavailable" for r in replies)
    assert all("stopping" in r.error.message for r in replies if r.error is not None)
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM notes.notes") == 0
        assert await conn.fetchval("SELECT count(*) FROM notes.command_log") == 0
    finally:
        await conn.close()


def test_the_bound_is_a_setting_of_at_least_one_request(settings_for):
    assert settings_for("notes").max_concurrent_requests == 16
    assert settings_for("notes", CARENET_MAX_CONCURRENT_REQUESTS="3").max_concurrent_requests == 3
    with pytest.raises(ConfigError, match="CARENET_MAX_CONCURRENT_REQUESTS=0 is outside"):
        settings_for("notes", CARENET_MAX_CONCURRENT_REQUESTS="0")
