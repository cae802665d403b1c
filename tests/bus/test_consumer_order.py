"""Events of one stream are applied in stream order, even when one of them fails for a while."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from shared.kit.bus.streams import dlq_config, ensure_stream, stream_config
from shared.kit.contracts import EventEnvelope
from tests.bus.helpers import body, publish_raw, stream_messages
from tests.conftest import eventually
from tests.example.ordering import STARTED, CaseClosed, CaseOpened, cases


def opened(case_id: UUID, site: str = "jinsha", **fields: Any) -> EventEnvelope:
    return EventEnvelope(
        type="notes.case.opened",
        source=f"notes/{site}",
        site=site,
        subject=str(case_id),
        data=CaseOpened(case_id=case_id, **fields).model_dump(mode="json"),
    )


def closed(case_id: UUID, site: str = "jinsha") -> EventEnvelope:
    return EventEnvelope(
        type="notes.case.closed",
        source=f"notes/{site}",
        site=site,
        subject=str(case_id),
        data=CaseClosed(case_id=case_id).model_dump(mode="json"),
    )


async def notes_stream(nc: NatsClient) -> None:
    """The stream the cases service consumes, as the notes service would create it."""
    js = nc.jetstream()
    await ensure_stream(js, stream_config("notes"))
    await ensure_stream(js, dlq_config())


async def publish(nc: NatsClient, *events: EventEnvelope) -> None:
    for event in events:
        await publish_raw(nc, event.nats_subject, body(event))


async def in_cases(database_url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "cases"})
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def applied(database_url: str) -> list[tuple[UUID, str]]:
    rows = await in_cases(database_url, "SELECT event_id, kind FROM applied ORDER BY seq")
    return [(row["event_id"], row["kind"]) for row in rows]


async def dead_letters(nc: NatsClient) -> list[Any]:
    try:
        return await stream_messages(nc, "DLQ")
    except Exception:  # noqa: BLE001 - no DLQ stream yet
        return []


@pytest.mark.parametrize("batch_size", [1, 10])
async def test_a_case_closed_after_its_opening_failed_for_a_while_ends_closed(
    start_service, nc, database_url, batch_size
):
    await notes_stream(nc)
    await start_service(cases(batch_size))
    case_id = uuid4()
    opening = opened(case_id, fail_times=2)
    closing = closed(case_id)
    await publish(nc, opening, closing)

    async def both() -> list[tuple[UUID, str]]:
        done = await applied(database_url)
        return done if len(done) == 2 else []

    assert await eventually(both) == [(opening.id, "opened"), (closing.id, "closed")]
    [row] = await in_cases(database_url, "SELECT state FROM cases WHERE case_id = $1", case_id)
    assert row["state"] == "closed"
    assert await dead_letters(nc) == []


async def test_events_after_a_failing_one_wait_for_it_and_keep_stream_order(
    start_service, nc, database_url
):
    await notes_stream(nc)
    await start_service(cases(batch_size=5))
    events = [opened(uuid4(), fail_times=2 if i == 3 else 0) for i in range(12)]
    await publish(nc, *events)

    async def everything() -> list[tuple[UUID, str]]:
        done = await applied(database_url)
        return done if len(done) == 12 else []

    assert [event_id for event_id, _ in await eventually(everything)] == [e.id for e in events]
    await asyncio.sleep(0.3)
    assert len(await applied(database_url)) == 12


async def test_replicas_sharing_a_durable_apply_a_slow_opening_before_its_closing(
    start_service, nc, database_url
):
    await notes_stream(nc)
    await start_service(cases())
    await start_service(cases())  # a second replica, bound to the same durable
    case_id = uuid4()
    opening = opened(case_id, sleep=1.0)
    closing = closed(case_id)
    await publish(nc, opening, closing)

    async def both() -> list[tuple[UUID, str]]:
        done = await applied(database_url)
        return done if len(done) == 2 else []

    assert await eventually(both) == [(opening.id, "opened"), (closing.id, "closed")]
    [row] = await in_cases(database_url, "SELECT state FROM cases WHERE case_id = $1", case_id)
    assert row["state"] == "closed"


async def test_replicas_sharing_a_durable_apply_in_stream_order_with_batches_not_full(
    start_service, nc, database_url
):
    # The first replica holds a batch of one (all there was); the closing comes while it
    # works. JetStream would hand it to the second replica at once (max_ack_pending is the
    # batch size, not one batch): only one replica of a durable may fetch at a time.
    await notes_stream(nc)
    await start_service(cases(batch_size=10))
    await start_service(cases(batch_size=10))
    case_id = uuid4()
    opening = opened(case_id, sleep=1.5)
    closing = closed(case_id)
    await publish(nc, opening)
    await eventually(lambda: _started(opening.id))
    await publish(nc, closing)

    async def both() -> list[tuple[UUID, str]]:
        done = await applied(database_url)
        return done if len(done) == 2 else []

    assert await eventually(both) == [(opening.id, "opened"), (closing.id, "closed")]
    [row] = await in_cases(database_url, "SELECT state FROM cases WHERE case_id = $1", case_id)
    assert row["state"] == "closed"


async def test_after_a_crash_the_events_it_held_are_applied_before_later_ones(
    service_process, start_service, nc, database_url
):
    # The crashed instance's batch comes back only after the ack wait; an instance that binds
    # the durable meanwhile must not apply the events after it first.
    await notes_stream(nc)
    settings = {"CARENET_ACK_WAIT_SECONDS": "2"}
    crashing = service_process("tests.example", "cases", "10", **settings).start(
        CARENET_CRASH_AT="cases.crash"
    )
    case_id = uuid4()
    opening = opened(case_id, crash=True)
    closing = closed(case_id)
    await publish(nc, opening)
    assert crashing.wait() == 70, crashing.output()
    await publish(nc, closing)
    await start_service(cases(batch_size=10), **settings)

    async def both() -> list[tuple[UUID, str]]:
        done = await applied(database_url)
        return done if len(done) == 2 else []

    assert await eventually(both) == [(opening.id, "opened"), (closing.id, "closed")]


async def _started(event_id: UUID) -> bool:
    return event_id in STARTED
