"""A consumer's inbox belongs to the service's subscription, whatever sites an instance serves."""

from __future__ import annotations

import shutil
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from nats.js.errors import NotFoundError

from shared.kit.db import migrations
from shared.kit.db.pool import create_pool
from shared.kit.service import ServiceRuntime
from tests.bus.helpers import add, body, counter, note_event, publish_raw
from tests.conftest import eventually, started_runtime
from tests.example.services import NOTES, tally


async def _settled(runtime: ServiceRuntime) -> bool:
    """Every consumer of ``runtime`` has been handed, and has acknowledged, all it will get."""
    assert runtime.broker is not None
    js = runtime.broker.connection.jetstream()
    for consumer in runtime.consumers:
        try:
            info = await js.consumer_info(consumer.stream, consumer.durable)
        except NotFoundError:  # not created yet
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def _counts(pool: asyncpg.Pool, expected: int) -> bool:
    return await counter(pool) == expected


async def test_a_new_site_list_does_not_apply_history_again(start_service, settings_for, nc):
    await start_service(NOTES)
    everywhere = await started_runtime(settings_for, tally(), CARENET_SITES="*")
    try:
        for i in range(3):
            assert (await add(nc, f"note {i}")).ok
        assert everywhere.pool is not None
        await eventually(lambda: _counts(everywhere.pool, 3))
    finally:
        await everywhere.stop()

    # Same service, now serving one site: a new durable that starts from the beginning.
    jinsha = await started_runtime(settings_for, tally(), CARENET_SITES="jinsha")
    try:
        assert jinsha.pool is not None
        await eventually(lambda: _settled(jinsha))
        assert await counter(jinsha.pool) == 3
        assert (await add(nc, "after the change")).ok
        await eventually(lambda: _counts(jinsha.pool, 4))
        await eventually(lambda: _settled(jinsha))
        assert await counter(jinsha.pool) == 4
    finally:
        await jinsha.stop()


async def test_a_replica_for_every_site_beside_a_per_site_one_applies_each_event_once(
    start_service, nc
):
    await start_service(NOTES)
    everywhere = await start_service(tally(batch_size=5), CARENET_SITES="*")
    jinsha = await start_service(tally(batch_size=5), CARENET_SITES="jinsha,likang")
    for i in range(10):
        assert (await add(nc, f"note {i}", site="jinsha" if i % 2 else "likang")).ok

    assert everywhere.pool is not None
    await eventually(lambda: _counts(everywhere.pool, 10))
    await eventually(lambda: _settled(everywhere))
    await eventually(lambda: _settled(jinsha))
    assert await counter(everywhere.pool) == 10


async def test_events_applied_under_a_per_site_durable_before_the_upgrade_are_not_applied_again(
    settings_for, start_service, nc, database_url, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    await start_service(NOTES)
    events = [note_event() for _ in range(3)]
    for event in events:
        await publish_raw(nc, event.nats_subject, body(event))
    # The tally schema as the previous release left it: bus migration 001 only, and three
    # events applied by an instance serving jinsha and likang.
    only_first = tmp_path / "bus_migrations"
    only_first.mkdir()
    shutil.copy(migrations.BUS_MIGRATIONS / "001_bus.sql", only_first)
    monkeypatch.setattr(migrations, "BUS_MIGRATIONS", only_first)
    pool = await create_pool(database_url, "tally", application="test")
    try:
        async with pool.acquire() as conn:
            await migrations.migrate(conn, "tally", tally().migrations)
            await conn.executemany(
                "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)",
                [("tally_notes-events_jinsha_likang", e.id) for e in events],
            )
            await conn.execute(
                "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)",
                "tally_notes-events",
                events[0].id,
            )
            await conn.execute("UPDATE counter SET n = 3")
        monkeypatch.undo()

        upgraded = await start_service(tally(batch_size=10), CARENET_SITES="*")
        await eventually(lambda: _settled(upgraded))
        assert await counter(pool) == 3
        async with pool.acquire() as conn:
            keys = await conn.fetch("SELECT DISTINCT consumer FROM inbox")
        assert [row["consumer"] for row in keys] == ["tally_notes-events"]
        later = note_event(uuid4())
        await publish_raw(nc, later.nats_subject, body(later))
        await eventually(lambda: _counts(pool, 4))
    finally:
        await pool.close()
