"""The inbox: which events a consumer has applied, claimed in the transaction of their effect."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_ids: list[UUID]) -> set[UUID]:
    """Record ``event_ids`` as applied by ``consumer``; returns those not applied before.

    Must run inside the transaction that applies them: if it rolls back, so does the claim.
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
