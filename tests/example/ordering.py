"""``cases``: a consumer whose events depend on each other's order, with ways to misbehave.

``notes.case.opened`` opens a case and ``notes.case.closed`` closes it; applied in the wrong
order a closed case would stay open. Fields of ``notes.case.opened`` make its handler crash
the process, fail a few times, raise ``TimeoutError``, hit a serialization failure, take part
in a real deadlock, wait while the test holds it, or see its commit cut off. ``applied``
records the order of effects.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import asyncpg

from shared.kit import faults
from shared.kit.bus.consumer import Subscription
from shared.kit.contracts import EventData, EventEnvelope, event
from shared.kit.db.uow import UnitOfWork
from shared.kit.service import ServiceDefinition

HERE = Path(__file__).parent

FAILURES_SO_FAR: dict[UUID, int] = {}
"""Failures caused so far per event id (this process only)."""
STARTED: set[UUID] = set()
"""Events whose handler has started (this process only)."""


@event("notes.case.opened")
class CaseOpened(EventData):
    case_id: UUID
    crash: bool = False
    fail_times: int = 0
    raise_timeout: bool = False
    serialization_failures: int = 0
    hot: bool = False
    slow: bool = False
    sleep: float = 0.0
    commit_cut: int = 0


@event("notes.case.closed")
class CaseClosed(EventData):
    case_id: UUID


def _fails_again(event: EventEnvelope, times: int) -> bool:
    so_far = FAILURES_SO_FAR.get(event.id, 0)
    if so_far < times:
        FAILURES_SO_FAR[event.id] = so_far + 1
        return True
    return False


async def on_opened(uow: UnitOfWork, event: EventEnvelope, data: CaseOpened) -> None:
    STARTED.add(event.id)
    if data.crash:
        faults.crash_point("cases.crash")
    if data.sleep:
        await asyncio.sleep(data.sleep)
    if data.slow:
        while await uow.conn.fetchval("SELECT count(*) FROM hold"):  # noqa: ASYNC110 - the test holds it in the database
            await asyncio.sleep(0.05)
    if data.raise_timeout:
        raise TimeoutError("a handler bug that looks like a timeout")
    if _fails_again(event, data.fail_times):
        raise RuntimeError("a passing failure")
    if data.serialization_failures and _fails_again(event, data.serialization_failures):
        await uow.conn.execute(
            "DO $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$"
        )
    if data.commit_cut:

        async def cut() -> None:
            if _fails_again(event, data.commit_cut):
                raise asyncpg.exceptions.InternalClientError("connection lost while committing")

        uow.before_commit.append(cut)
    if data.hot:
        await uow.conn.execute("UPDATE hot SET n = n + 1 WHERE k = 'a'")
        await uow.conn.execute("UPDATE hot SET n = n + 1 WHERE k = 'b'")
    await uow.conn.execute(
        """INSERT INTO cases (case_id, state) VALUES ($1, 'open')
           ON CONFLICT (case_id) DO UPDATE SET state = 'open'""",
        data.case_id,
    )
    await uow.conn.execute("INSERT INTO applied (event_id, kind) VALUES ($1, 'opened')", event.id)


async def on_closed(uow: UnitOfWork, event: EventEnvelope, data: CaseClosed) -> None:
    await uow.conn.execute(
        """INSERT INTO cases (case_id, state) VALUES ($1, 'closed')
           ON CONFLICT (case_id) DO UPDATE SET state = 'closed'""",
        data.case_id,
    )
    await uow.conn.execute("INSERT INTO applied (event_id, kind) VALUES ($1, 'closed')", event.id)


def cases(batch_size: int = 1) -> ServiceDefinition:
    """The ``cases`` service, consuming the notes stream ``batch_size`` events at a time."""
    return ServiceDefinition(
        name="cases",
        migrations=HERE / "migrations_cases",
        subscriptions=(
            Subscription(
                name="notes-events",
                source="notes",
                handlers={"notes.case.opened": on_opened, "notes.case.closed": on_closed},
                batch_size=batch_size,
            ),
        ),
    )
