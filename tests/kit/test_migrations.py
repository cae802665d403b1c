"""Plain SQL migrations per schema, in order, once, under an advisory lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from shared.kit.db.migrations import (
    BUS_MIGRATIONS,
    MigrationError,
    load_migrations,
    migrate,
    pending,
)

# The kit's own migrations come first in every schema; their number grows with the kit.
BUS = [f"bus/{m.version}_{m.name}" for m in load_migrations("bus", BUS_MIGRATIONS)]


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def test_migrations_apply_in_order_once_into_the_services_own_schema(
    database_url, tmp_path: Path
):
    folder = _write(
        tmp_path / "m",
        {
            "001_people.sql": "CREATE TABLE people (id int PRIMARY KEY);",
            "002_more.sql": "ALTER TABLE people ADD COLUMN role text;",
        },
    )
    conn = await asyncpg.connect(database_url)
    try:
        applied = await migrate(conn, "intake", folder)
        again = await migrate(conn, "intake", folder)
        columns = await conn.fetch(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = 'intake' AND table_name = 'people' ORDER BY ordinal_position"""
        )
        assert await pending(conn, "intake", folder) == 0
    finally:
        await conn.close()
    assert applied == [*BUS, "intake/001_people", "intake/002_more"]
    assert again == []
    assert [c["column_name"] for c in columns] == ["id", "role"]


async def test_replicas_starting_together_apply_each_migration_once(database_url, tmp_path: Path):
    folder = _write(tmp_path / "m", {"001_t.sql": "CREATE TABLE t (id int);"})
    conns = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c, "groups", folder) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    assert sorted(len(r) for r in results) == [0, 0, 0, len(BUS) + 1]


async def test_a_migration_changed_after_it_was_applied_is_refused(database_url, tmp_path: Path):
    folder = _write(tmp_path / "m", {"001_t.sql": "CREATE TABLE t (id int);"})
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, "volunteers", folder)
        (folder / "001_t.sql").write_text("CREATE TABLE t (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, "volunteers", folder)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_done(database_url, tmp_path: Path):
    folder = _write(
        tmp_path / "m",
        {"001_ok.sql": "CREATE TABLE ok (id int);", "002_bad.sql": "CREATE TABLE x (; "},
    )
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await migrate(conn, "reporting", folder)
        assert await pending(conn, "reporting", folder) == 1
    finally:
        await conn.close()
