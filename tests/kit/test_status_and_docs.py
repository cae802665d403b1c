"""Every service's status endpoints, and the published documents match the code."""

from __future__ import annotations

import asyncio
import json
import re

from shared.kit.contracts import docs
from tests.bus.helpers import add
from tests.conftest import REPO
from tests.example.services import NOTES, tally


async def _get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = (await reader.read()).decode()
    writer.close()
    head, _, body = data.partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_healthz_readyz_and_metrics_report_the_service(start_service, nc):
    notes = await start_service(NOTES)
    counting = await start_service(tally())
    assert (await add(nc, "counted")).ok

    status, body = await _get(notes.status.port, "/healthz")
    assert status == 200
    status, body = await _get(counting.status.port, "/readyz")
    assert status == 200
    report = json.loads(body)
    assert report["ready"] is True
    assert report["checks"] == {
        "nats": True,
        "database": True,
        "migrations": True,
        "consumers": True,
        "outbox_relay": "leader",
    }
    status, metrics = await _get(notes.status.port, "/metrics")
    assert status == 200
    assert (
        'carenet_messages_total{kind="command",name="add_note",outcome="ok",service="notes"}'
        in metrics
    )
    assert re.search(
        r'carenet_handler_seconds_count\{kind="command",name="add_note",service="notes"\} [1-9]',
        metrics,
    )
    assert 'carenet_outbox_backlog{service="notes"}' in metrics
    assert "carenet_outbox_oldest_age_seconds" in metrics


async def test_readyz_is_503_when_the_database_is_gone(start_service):
    notes = await start_service(NOTES)
    await notes.pool.close()
    status, body = await _get(notes.status.port, "/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["database"] is False


def test_the_published_asyncapi_and_event_schemas_match_the_code():
    rendered = docs.render()
    on_disk = {
        str(path.relative_to(REPO / "docs")): path.read_text()
        for path in (REPO / "docs").rglob("*.json")
    }
    assert set(on_disk) == set(rendered), "run `carenet docs` to regenerate docs/"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"docs/{name} is out of date: run `carenet docs`"
    asyncapi = json.loads(rendered["asyncapi.json"])
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["channels"]["dead-letter"]["address"] == "dlq.{service}.{consumer}"
