"""What a failure means: the database is away, the work collided and may simply run again, or
the work itself is wrong.

Consumers and command endpoints treat the three differently: an outage is waited out (nothing
acknowledged, nothing dead-lettered, commands answer ``unavailable``); a collision is retried
at once without counting as an attempt; only a failure counts toward dead-lettering or
answers ``internal``. Errors that could be either (a ``TimeoutError``, an ``OSError``, asyncpg's
``InterfaceError`` and ``InternalClientError``) are settled by asking the database itself
whether it answers.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import asyncpg


class Failure(StrEnum):
    OUTAGE = "outage"
    """The database (or the connection to it) is away: wait, retry, never blame the work."""
    COLLISION = "collision"
    """Deadlock, serialization failure, lock or statement timeout: run the same work again."""
    WORK = "work"
    """The handler or its data is wrong: counts as a failed attempt."""
    AMBIGUOUS = "ambiguous"
    """Could be either; ``classify`` settles it with a probe."""


# SQLSTATE classes and codes, from PostgreSQL's errcodes table (docs/reliability.md lists them).
_OUTAGE_CLASSES = ("08", "53", "58")  # connection exception, insufficient resources, system error
_OUTAGE_CODES = frozenset(
    {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "57P04",  # database_dropped
        "25006",  # read_only_sql_transaction: a standby after failover
        "40003",  # statement_completion_unknown
    }
)
_COLLISION_CODES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57014",  # query_canceled: statement_timeout
    }
)

_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    ConnectionRefusedError,
)
_AMBIGUOUS_TYPES: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.InterfaceError,
    OSError,
    TimeoutError,
)


def classify_fast(exc: BaseException) -> Failure:
    """Classify ``exc`` from what it is alone; may answer ``AMBIGUOUS``."""
    if isinstance(exc, _OUTAGE_TYPES):
        return Failure.OUTAGE
    if isinstance(exc, asyncpg.PostgresError):
        code = exc.sqlstate or ""
        if code in _COLLISION_CODES:
            return Failure.COLLISION
        if code in _OUTAGE_CODES or code[:2] in _OUTAGE_CLASSES:
            return Failure.OUTAGE
        return Failure.WORK
    if isinstance(exc, _AMBIGUOUS_TYPES):
        return Failure.AMBIGUOUS
    return Failure.WORK


async def database_answers(dsn: str, *, timeout: float = 2.0) -> bool:
    """Whether a fresh connection to ``dsn`` answers ``SELECT 1`` within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            conn = await asyncpg.connect(dsn)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
        return True
    except Exception:  # noqa: BLE001 - any failure to answer means it does not answer
        return False


async def classify(exc: BaseException, dsn: str) -> Failure:
    """``OUTAGE``, ``COLLISION`` or ``WORK``: an ambiguous error is an outage only if the
    database does not answer a fresh connection right now."""
    kind = classify_fast(exc)
    if kind is not Failure.AMBIGUOUS:
        return kind
    return Failure.WORK if await database_answers(dsn) else Failure.OUTAGE
