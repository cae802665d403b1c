"""Connection pools bound to one service's schema."""

from __future__ import annotations

import json
import re

import asyncpg

SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def schema_settings(schema: str, application: str) -> dict[str, str]:
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    # Unqualified names in a service's SQL resolve to its own schema and nowhere else.
    return {"search_path": schema, "application_name": application[:63]}


async def create_pool(
    dsn: str, schema: str, *, application: str, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose connections see only ``schema`` (plus pg_catalog)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=schema_settings(schema, application),
    )
    assert pool is not None
    return pool


async def connect(dsn: str, schema: str, *, application: str) -> asyncpg.Connection:
    """One dedicated connection (LISTEN, leader locks) bound to ``schema``."""
    conn = await asyncpg.connect(dsn, server_settings=schema_settings(schema, application))
    await _init_connection(conn)
    return conn


INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.InterfaceError,
    TimeoutError,
)
"""Errors that say the database is out of reach, not that the work is wrong: retry, never DLQ."""
