"""Row writes from column values: insert, insert once (the constraint settles races), update."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.kit.db import rows


async def _table(database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=8)
    await pool.execute(
        """CREATE TABLE links (carer_id int, cared_for_id int, relationship text, status text,
                               PRIMARY KEY (carer_id, cared_for_id))"""
    )
    return pool


async def test_insert_writes_the_named_columns(database_url):
    pool = await _table(database_url)
    async with pool.acquire() as conn:
        await rows.insert(conn, "links", cared_for_id=2, carer_id=1, relationship="parent")
        row = await conn.fetchrow("SELECT * FROM links")
    assert dict(row) == {"carer_id": 1, "cared_for_id": 2, "relationship": "parent", "status": None}
    await pool.close()


async def test_of_concurrent_inserts_of_one_key_exactly_one_is_told_it_inserted(database_url):
    pool = await _table(database_url)

    async def attempt(relationship: str) -> bool:
        async with pool.acquire() as conn:
            return await rows.insert_once(
                conn,
                "links",
                "(carer_id, cared_for_id)",
                carer_id=1,
                cared_for_id=2,
                relationship=relationship,
            )

    outcomes = await asyncio.gather(*(attempt(f"r{i}") for i in range(8)))
    assert sorted(outcomes) == [False] * 7 + [True]
    assert await pool.fetchval("SELECT count(*) FROM links") == 1
    await pool.close()


async def test_update_sets_columns_on_the_keyed_rows_and_counts_them(database_url):
    pool = await _table(database_url)
    async with pool.acquire() as conn:
        for cared_for in (2, 3):
            await rows.insert(conn, "links", carer_id=1, cared_for_id=cared_for, status="active")
        changed = await rows.update(
            conn, "links", {"carer_id": 1, "cared_for_id": 3}, status="ended", relationship="x"
        )
        none = await rows.update(conn, "links", {"carer_id": 9}, status="ended")
        statuses = await conn.fetch("SELECT cared_for_id, status FROM links ORDER BY 1")
    assert (changed, none) == (1, 0)
    assert [tuple(r) for r in statuses] == [(2, "active"), (3, "ended")]
    await pool.close()


async def test_fetch_one_builds_a_dataclass_from_the_columns_named_as_its_fields(database_url):
    from dataclasses import dataclass

    @dataclass
    class Link:
        carer_id: int
        cared_for_id: int
        status: str = "active"

    pool = await _table(database_url)
    async with pool.acquire() as conn:
        await rows.insert(conn, "links", carer_id=1, cared_for_id=2, relationship="parent")
        link = await rows.fetch_one(conn, Link, "SELECT * FROM links WHERE carer_id = $1", 1)
        missing = await rows.fetch_one(conn, Link, "SELECT * FROM links WHERE carer_id = $1", 9)
    assert (link, missing) == (Link(1, 2, None), None)  # type: ignore[arg-type]
    await pool.close()
