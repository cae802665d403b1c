"""Readiness tells the truth about the outbox relay: retrying is not ready, parked is shown."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

from shared.kit.bus.streams import ensure_stream, stream_config
from shared.kit.observability.metrics import READY
from tests.bus.helpers import add_directly
from tests.conftest import eventually
from tests.example.services import NOTES


async def _readyz(port: int) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = (await reader.read()).decode()
    writer.close()
    head, _, body = data.partition("\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_readyz_is_503_while_the_relay_cannot_publish_and_200_once_it_can(start_service, nc):
    notes = await start_service(NOTES)
    notes.relay_grace_seconds = 0.5
    assert (await _readyz(notes.status.port))[0] == 200

    # An operator deletes the stream: every publish now finds no responders.
    await nc.jetstream().delete_stream("NOTES")
    await add_directly(notes, "written while the stream is gone")

    async def answer(expected: int) -> dict[str, Any] | None:
        status, report = await _readyz(notes.status.port)
        return report if status == expected else None

    report = await eventually(lambda: answer(503))
    assert report["ready"] is False
    assert report["checks"]["outbox_relay"] == "retrying"
    assert READY.labels("notes")._value.get() == 0

    await ensure_stream(nc.jetstream(), stream_config("notes"))
    report = await eventually(lambda: answer(200), timeout=30)
    assert report["checks"]["outbox_relay"] == "leader"
    assert READY.labels("notes")._value.get() == 1


async def test_readyz_reports_parked_events_without_going_unready(start_service, nc):
    notes = await start_service(NOTES)
    assert notes.pool is not None
    async with notes.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO outbox (event_id, subject, body) VALUES ($1, $2, $3)",
            uuid4(),
            "evt.jinsha.notes.note.added",
            "x" * (nc.max_payload + 1),
        )
    await add_directly(notes, "after the one too large")

    async def parked_reported() -> dict[str, Any] | None:
        _, report = await _readyz(notes.status.port)
        return report if report.get("outbox", {}).get("parked") == 1 else None

    report = await eventually(parked_reported)
    assert report["ready"] is True
