"""Reconciliation: the outbox rows still kept, compared with the service's stream.

The relay keeps published rows for an hour. ``reconcile`` looks for each of them in the stream
by event id (headers only, from just before the oldest of them was created) and publishes
again, one at a time in outbox order, every event the stream no longer holds: one a broker
acknowledged but lost before it reached disk (JetStream syncs every 2 minutes by default), one
deleted, or a whole stream lost or purged.

A re-published event carries its event id as ``Nats-Msg-Id``. Inside the stream's duplicate
window JetStream may still remember that id although the message is gone (deleting a message or
purging the stream does not make it forget) and drop the copy as a duplicate; such an event is
published under the repair id ``<event id>:<sequence it had>`` instead. Both kinds of id are
recognised when looking in the stream, and consumers deduplicate by the event id in the body,
so an event found back is applied once. Reconciling twice publishes nothing the second time.

A reconciled event lands after the events published since: stream order equals outbox order
for what the relay publishes, not for what reconciliation puts back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js.api import PubAck

from shared.kit.bus.outbox import RECHECK_MARGIN, Publisher
from shared.kit.bus.streams import find_event_ids, stream_name
from shared.kit.db.pool import connect

KEEP = timedelta(hours=1)


@dataclass(frozen=True)
class Reconciled:
    """What one service's reconciliation saw and did."""

    service: str
    kept: int
    """Outbox rows published within the keep period."""
    found: int
    """Of those, how many the stream holds."""
    republished: int
    parked: int
    """Events the relay set aside because JetStream refuses them (not re-published here)."""

    def summary(self) -> str:
        return (
            f"{self.service}: {self.kept} kept, {self.found} found in stream, "
            f"{self.republished} re-published, {self.parked} parked"
        )


async def reconcile(
    nats: NatsClient,
    database_url: str,
    service: str,
    *,
    schema: str | None = None,
    keep: timedelta = KEEP,
    publish_timeout: float = 5.0,
) -> Reconciled:
    """Re-publish the kept outbox events of ``service`` that its stream lacks."""
    conn = await connect(
        database_url,
        schema or service,
        application=f"carenet-{service}-reconcile",
        command_timeout=60.0,
    )
    try:
        rows = await conn.fetch(
            """SELECT seq, event_id, subject, body, created_at FROM outbox
               WHERE published_at IS NOT NULL AND published_at > now() - $1::interval
               ORDER BY seq""",
            keep,
        )
        parked = int(await conn.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"))
        if not rows:
            return Reconciled(service, 0, 0, 0, parked)
        found = await find_event_ids(
            nats,
            stream_name(service),
            [str(row["event_id"]) for row in rows],
            since=min(row["created_at"] for row in rows) - RECHECK_MARGIN,
        )
        missing = [row for row in rows if str(row["event_id"]) not in found]
        publisher = Publisher(nats)
        await publisher.open()
        try:
            for row in missing:
                ack = await _publish(publisher, row, str(row["event_id"]), publish_timeout)
                if ack.duplicate:
                    repair_id = f"{row['event_id']}:{ack.seq}"
                    ack = await _publish(publisher, row, repair_id, publish_timeout)
                await conn.execute(
                    "UPDATE outbox SET stream_seq = $2 WHERE seq = $1", row["seq"], ack.seq
                )
        finally:
            await publisher.close()
        return Reconciled(service, len(rows), len(found), len(missing), parked)
    finally:
        await conn.close()


async def _publish(
    publisher: Publisher, row: asyncpg.Record, msg_id: str, timeout: float
) -> PubAck:
    future = await publisher.send(row["subject"], row["body"].encode(), {"Nats-Msg-Id": msg_id})
    return await asyncio.wait_for(future, timeout=timeout)
