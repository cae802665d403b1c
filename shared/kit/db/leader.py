"""One leader among the replicas of a service: a PostgreSQL session advisory lock.

The outbox relay (one per schema) and each durable consumer (one fetching replica per durable)
elect their leader this way. The lock lives on a dedicated connection; it passes to a standby
when that session ends: at once when the process dies, after TCP keepalives (~25 s) when its
host vanishes, and after ``idle_timeout`` of silence when it is frozen, so a leader must use
its connection more often than that.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from shared.kit.db.pool import connect

IDLE_TIMEOUT = timedelta(seconds=60)


async def leader_connection(
    dsn: str,
    schema: str,
    *,
    application: str,
    command_timeout: float,
    idle_timeout: timedelta = IDLE_TIMEOUT,
) -> asyncpg.Connection:
    """A dedicated connection whose session the server ends after ``idle_timeout`` idle."""
    conn = await asyncio.wait_for(
        connect(dsn, schema, application=application, command_timeout=command_timeout),
        timeout=command_timeout * 2,
    )
    try:
        if conn.get_server_version().major >= 14:
            seconds = max(int(idle_timeout.total_seconds()), 1)
            await conn.execute(f"SET idle_session_timeout = '{seconds}s'")
    except BaseException:
        conn.terminate()
        raise
    return conn


async def try_lead(conn: asyncpg.Connection, lock: str) -> bool:
    """Take ``lock`` for this session if nobody holds it; whether this session holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock))


async def close(conn: asyncpg.Connection) -> None:
    """End the session (and with it the lock), at once if the server does not answer."""
    try:
        await asyncio.wait_for(conn.close(), timeout=2)
    except Exception:  # noqa: BLE001
        conn.terminate()
