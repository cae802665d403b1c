"""What reporting learns from intake, groups and volunteers: each of their events becomes
read-model rows (``store.APPLY``).

The handlers gather the batch's upserts and write them at its commit, holding the rebuild lock
in shared mode, so a ``carenet reporting rebuild`` (which holds it exclusively for its one
transaction) and the live consumers never interleave: the consumers wait, then carry on from
where they were.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.reporting import store
from shared.kit.bus.consumer import EventHandler
from shared.kit.contracts import EventEnvelope
from shared.kit.db.uow import UnitOfWork


def _rows_of(uow: UnitOfWork) -> store.Rows:
    """The batch's pending upserts, written just before the batch's transaction commits."""
    rows: store.Rows | None = uow.shared.get("reporting_rows")
    if rows is None:
        rows = uow.shared["reporting_rows"] = store.Rows()
        pending = rows

        async def flush() -> None:
            # A rebuild holds the lock for as long as it takes; short tries keep each statement
            # far inside the pool's command timeout, so waiting never counts as a failure.
            while True:
                if await store.try_share_rebuild_lock(uow.conn):
                    break
                await asyncio.sleep(0.1)
            await pending.flush(uow.conn)

        uow.before_commit.append(flush)
    return rows


def handler(apply: store.Apply) -> EventHandler:
    async def handle(uow: UnitOfWork, event: EventEnvelope, data: Any) -> None:
        _rows_of(uow).add(apply(event, data))

    handle.__name__ = f"on_{apply.__name__}"
    return handle


def handlers_of(source: str) -> dict[str, EventHandler]:
    """The handlers of every event of ``source`` reporting reads, by event type."""
    return {event_type: handler(apply) for event_type, apply in store.APPLY[source].items()}
