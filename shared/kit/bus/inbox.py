"""The inbox: which events a consumer has applied, claimed in the transaction of their effect;
and the attempts at applying one event on its own that have not succeeded (yet).

Both are keyed by the consumer's inbox key, ``<service>_<subscription>``: not by the durable
consumer's name, which also names the sites an instance serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_ids: list[UUID]) -> set[UUID]:
    """Record ``event_ids`` as applied by ``consumer``; returns those not applied before.

    Must run inside the transaction that applies them: if it rolls back, so does the claim.
    Another transaction claiming the same event waits for this one to end, so two instances
    (or two durables of one subscription) never both apply it.
    """
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id)
           SELECT $1, unnest($2::uuid[])
           ON CONFLICT DO NOTHING
           RETURNING event_id""",
        consumer,
        event_ids,
    )
    return {row["event_id"] for row in rows}


async def applied_before(
    conn: asyncpg.Connection, consumer: str, event_ids: list[UUID]
) -> set[UUID]:
    """Which of ``event_ids`` ``consumer`` has applied already (committed)."""
    rows = await conn.fetch(
        "SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
        consumer,
        event_ids,
    )
    return {row["event_id"] for row in rows}


@dataclass(frozen=True)
class Earlier:
    """The attempts at an event that did not succeed: each failed (with its error) or never
    finished (``None``: the process crashed or was killed while the handler ran)."""

    errors: list[str | None]

    @property
    def count(self) -> int:
        return len(self.errors)

    @property
    def unfinished(self) -> int:
        return sum(1 for error in self.errors if error is None)

    @property
    def last_error(self) -> str | None:
        return next((e for e in reversed(self.errors) if e is not None), None)


async def begin_attempt(
    conn: asyncpg.Connection, consumer: str, event_id: UUID, attempt_id: UUID, limit: int
) -> Earlier:
    """Record attempt ``attempt_id`` at ``event_id`` unless ``limit`` attempts came before it;
    returns those earlier attempts. Commits on its own, before the handler runs, so a crash
    leaves the attempt behind. Idempotent for one ``attempt_id``."""
    async with conn.transaction():
        # Losing this row in a PostgreSQL crash only gives the event one more attempt.
        await conn.execute("SET LOCAL synchronous_commit = off")
        rows = await conn.fetch(
            """SELECT error FROM consumer_attempts
               WHERE consumer = $1 AND event_id = $2 AND attempt_id <> $3
               ORDER BY started_at""",
            consumer,
            event_id,
            attempt_id,
        )
        earlier = Earlier([row["error"] for row in rows])
        if earlier.count < limit:
            await conn.execute(
                """INSERT INTO consumer_attempts (attempt_id, consumer, event_id)
                   VALUES ($1, $2, $3) ON CONFLICT (attempt_id) DO NOTHING""",
                attempt_id,
                consumer,
                event_id,
            )
    return earlier


async def attempt_failed(conn: asyncpg.Connection, attempt_id: UUID, error: str) -> None:
    """Note why attempt ``attempt_id`` failed (it stays counted)."""
    await conn.execute(
        "UPDATE consumer_attempts SET error = $2 WHERE attempt_id = $1", attempt_id, error[:2000]
    )


async def forget_attempt(conn: asyncpg.Connection, attempt_id: UUID) -> None:
    """Un-count one attempt: it was cancelled by a stop, not failed by the event."""
    await conn.execute("DELETE FROM consumer_attempts WHERE attempt_id = $1", attempt_id)


async def forget_attempts(conn: asyncpg.Connection, consumer: str, event_ids: list[UUID]) -> None:
    """Drop the attempts at events now applied or dead-lettered (in the applying transaction)."""
    await conn.execute(
        "DELETE FROM consumer_attempts WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
        consumer,
        event_ids,
    )
