"""What a failure means decides what a consumer does: wait, retry at once, or count an attempt."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import asyncpg

from shared.local.devservers import PostgresServer
from tests.bus.test_consumer_order import (
    applied,
    dead_letters,
    notes_stream,
    opened,
    publish,
)
from tests.conftest import eventually
from tests.example.ordering import cases


async def test_a_handler_that_raises_timeout_error_is_dead_lettered_after_max_deliver(
    start_service, nc, database_url
):
    await notes_stream(nc)
    await start_service(cases(), CARENET_MAX_DELIVER="2")
    buggy = opened(uuid4(), raise_timeout=True)
    good = opened(uuid4())
    await publish(nc, buggy, good)

    [letter] = await eventually(lambda: dead_letters(nc), timeout=20)
    assert "TimeoutError" in letter.headers["Carenet-Dlq-Reason"]
    assert "failed 2 times" in letter.headers["Carenet-Dlq-Reason"]
    assert await eventually(lambda: applied(database_url)) == [(good.id, "opened")]


async def test_a_serialization_failure_is_retried_at_once_and_not_counted(
    start_service, nc, database_url
):
    await notes_stream(nc)
    await start_service(cases(), CARENET_MAX_DELIVER="1")
    colliding = opened(uuid4(), serialization_failures=3)
    await publish(nc, colliding)

    assert await eventually(lambda: applied(database_url)) == [(colliding.id, "opened")]
    assert await dead_letters(nc) == []


async def test_a_handler_caught_in_a_real_deadlock_is_applied_not_dead_lettered(
    start_service, nc, database_url
):
    await notes_stream(nc)
    await start_service(cases(), CARENET_MAX_DELIVER="1")
    rival = await asyncpg.connect(database_url, server_settings={"search_path": "cases"})
    try:
        # The handler waits longer for its lock than this session does, so PostgreSQL picks
        # the handler as the deadlock's victim.
        await rival.execute("SET deadlock_timeout = '10s'")
        transaction = rival.transaction()
        await transaction.start()
        await rival.execute("UPDATE hot SET n = n + 1 WHERE k = 'b'")
        locking = opened(uuid4(), hot=True)
        await publish(nc, locking)

        async def handler_waits_for_b() -> bool:
            # Asked outside the rival's transaction: PostgreSQL reads pg_stat_activity once
            # per transaction, so inside it the first answer would be the only one.
            observer = await asyncpg.connect(database_url)
            try:
                return bool(
                    await observer.fetchval(
                        """SELECT count(*) FROM pg_stat_activity
                           WHERE wait_event_type = 'Lock' AND datname = current_database()
                             AND pid <> $1""",
                        rival.get_server_pid(),
                    )
                )
            finally:
                await observer.close()

        await eventually(handler_waits_for_b)
        await rival.execute("UPDATE hot SET n = n + 1 WHERE k = 'a'")  # the deadlock
        await transaction.commit()
    finally:
        await rival.close()

    assert await eventually(lambda: applied(database_url)) == [(locking.id, "opened")]
    assert await dead_letters(nc) == []


async def test_a_commit_cut_off_by_the_connection_is_retried_not_counted(
    start_service, nc, database_url
):
    # What asyncpg raises when PostgreSQL shuts down under a commit (InternalClientError),
    # raised here at the same step: the outcome of the commit is unknown, the work is not wrong.
    await notes_stream(nc)
    await start_service(cases(batch_size=5), CARENET_MAX_DELIVER="1")
    events = [opened(uuid4(), commit_cut=2 if i == 0 else 0) for i in range(3)]
    await publish(nc, *events)

    async def all_applied() -> list:
        done = await applied(database_url)
        return done if len(done) == 3 else []

    assert [event_id for event_id, _ in await eventually(all_applied)] == [e.id for e in events]
    assert await dead_letters(nc) == []


async def test_a_postgresql_restart_during_batches_never_dead_letters_a_good_event(
    tmp_path: Path, settings_for, start_service, nc
):
    own = PostgresServer(tmp_path / "pg", fsync=False).start()
    try:
        await notes_stream(nc)
        runtime = await start_service(
            cases(batch_size=5), DATABASE_URL=own.dsn, CARENET_MAX_DELIVER="1"
        )
        [consumer] = runtime.consumers
        events = [opened(uuid4(), sleep=0.05) for _ in range(60)]
        await publish(nc, *events)
        await eventually(lambda: _some_applied(own.dsn), timeout=20)

        await asyncio.to_thread(own.stop)

        async def waiting_for_the_database() -> bool:
            return not consumer.healthy

        await eventually(waiting_for_the_database)
        await asyncio.sleep(1)
        await asyncio.to_thread(own.start)

        async def all_applied() -> bool:
            try:
                return len(await applied(own.dsn)) == len(events)
            except (OSError, asyncpg.PostgresError):
                return False

        await eventually(all_applied, timeout=60)

        async def healthy_again() -> bool:
            return consumer.healthy

        await eventually(healthy_again)
        assert [event_id for event_id, _ in await applied(own.dsn)] == [e.id for e in events]
        assert await dead_letters(nc) == []
    finally:
        own.stop()


async def _some_applied(dsn: str) -> bool:
    try:
        return len(await applied(dsn)) > 0
    except (OSError, asyncpg.PostgresError):
        return False
