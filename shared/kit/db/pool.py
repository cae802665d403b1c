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


KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
"""The server probes a silent client after 10 s and drops it after 3 unanswered probes 5 s
apart, ending its session (and releasing its advisory locks) ~25 s after the peer vanished."""

COMMAND_TIMEOUT = 60.0
"""Default longest wait for one statement: a half-open connection fails instead of hanging."""

CONNECT_TIMEOUT = 10.0


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing more than asyncpg does.

    asyncpg itself always rolls back a transaction left open and drops the connection's
    listeners before this runs. Its default reset also sends ``pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL`` - one more round trip for every command - to undo session
    state that carenet never leaves on a pooled connection: session advisory locks, LISTEN,
    cursors WITH HOLD and session settings are taken only on dedicated connections (``connect``:
    the outbox relay, migrations, rebuilds); pooled work uses transaction-scoped locks
    (``pg_advisory_xact_lock``) and ``SET LOCAL``. ``tests/bus/test_round_trips.py`` checks
    that a released connection keeps no transaction and costs no round trip.
    """


def schema_settings(schema: str, application: str) -> dict[str, str]:
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    # Unqualified names in a service's SQL resolve to its own schema and nowhere else.
    return {"search_path": schema, "application_name": application[:63], **KEEPALIVE_SETTINGS}


async def create_pool(
    dsn: str,
    schema: str,
    *,
    application: str,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout: float | None = COMMAND_TIMEOUT,
) -> asyncpg.Pool:
    """A pool whose connections see only ``schema`` (plus pg_catalog).

    Every statement times out after ``command_timeout`` seconds (a caller may pass its own
    ``timeout=`` for longer work, or None here), and the server drops a vanished client
    through TCP keepalives.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=schema_settings(schema, application),
        command_timeout=command_timeout,
        timeout=CONNECT_TIMEOUT,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def connect(
    dsn: str, schema: str, *, application: str, command_timeout: float | None = None
) -> asyncpg.Connection:
    """One dedicated connection (LISTEN, leader locks, long rebuilds) bound to ``schema``."""
    conn = await asyncpg.connect(
        dsn,
        server_settings=schema_settings(schema, application),
        command_timeout=command_timeout,
        timeout=CONNECT_TIMEOUT,
    )
    await _init_connection(conn)
    return conn
