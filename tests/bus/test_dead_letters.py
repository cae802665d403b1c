"""Poison messages go to DLQ with their reason, and the consumer goes on."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.bus.helpers import body, counter, note_event, publish_raw, stream_messages
from tests.conftest import eventually
from tests.example.services import NOTES, tally


async def _dead_letters(nc) -> list:
    try:
        return await stream_messages(nc, "DLQ")
    except Exception:  # noqa: BLE001 - the stream may not exist yet
        return []


async def test_a_malformed_message_lands_in_the_dlq_with_its_reason_and_the_consumer_goes_on(
    start_service, nc
):
    await start_service(NOTES)
    counting = await start_service(tally(batch_size=10))
    await publish_raw(nc, "evt.jinsha.notes.note.added", b"{not json", msg_id="garbage-1")
    good = note_event()
    await publish_raw(nc, good.nats_subject, body(good))

    letters = await eventually(lambda: _dead_letters(nc))
    await eventually(lambda: counter(counting.pool))
    assert len(letters) == 1
    letter = letters[0]
    assert letter.subject == "dlq.tally.notes-events"
    assert letter.data == b"{not json"
    assert letter.headers["Carenet-Dlq-Reason"].startswith("unparseable event")
    assert letter.headers["Carenet-Original-Subject"] == "evt.jinsha.notes.note.added"
    assert letter.headers["Carenet-Original-Stream"] == "NOTES"
    assert letter.headers["Carenet-Dlq-Consumer"] == "notes-events"
    assert await counter(counting.pool) == 1


async def test_an_event_with_invalid_data_is_dead_lettered_at_once(start_service, nc):
    await start_service(NOTES)
    counting = await start_service(tally())
    broken = note_event()
    broken = broken.model_copy(update={"data": {"note_id": "not-a-uuid", "length": "x"}})
    await publish_raw(nc, broken.nats_subject, body(broken))
    good = note_event()
    await publish_raw(nc, good.nats_subject, body(good))

    letters = await eventually(lambda: _dead_letters(nc))
    await eventually(lambda: counter(counting.pool))
    assert "invalid notes.note.added data" in letters[0].headers["Carenet-Dlq-Reason"]
    assert letters[0].headers["Carenet-Deliveries"] == "1"


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered_and_others_go_on(
    start_service, nc
):
    await start_service(NOTES)
    counting = await start_service(tally(batch_size=10), CARENET_MAX_DELIVER="3")
    poison = note_event(poison=True)
    await publish_raw(nc, poison.nats_subject, body(poison))
    good = [note_event() for _ in range(3)]
    for event in good:
        await publish_raw(nc, event.nats_subject, body(event))

    await eventually(lambda: _equals(counter(counting.pool), 3))
    letters = await eventually(lambda: _dead_letters(nc), timeout=30)
    assert len(letters) == 1
    assert letters[0].headers["Carenet-Deliveries"] == "3"
    assert "failed 3 times" in letters[0].headers["Carenet-Dlq-Reason"]
    assert "this note always fails" in letters[0].headers["Carenet-Dlq-Reason"]
    await asyncio.sleep(0.5)
    assert len(await _dead_letters(nc)) == 1


async def test_an_unprocessable_event_goes_to_the_dlq_without_retries(start_service, nc):
    await start_service(NOTES)
    counting = await start_service(tally())
    too_long = note_event().model_copy(update={"data": {**note_event().data, "length": 151}})
    await publish_raw(nc, too_long.nats_subject, body(too_long))

    letters = await eventually(lambda: _dead_letters(nc))
    assert letters[0].headers["Carenet-Deliveries"] == "1"
    assert "longer than 150" in letters[0].headers["Carenet-Dlq-Reason"]
    assert await counter(counting.pool) == 0


async def test_a_message_that_crashes_the_process_every_time_is_dead_lettered_and_work_goes_on(
    start_service, service_process, nc, database_url
):
    await start_service(NOTES)
    crasher = note_event().model_copy(update={"data": {**note_event().data, "length": 149}})
    await publish_raw(nc, crasher.nats_subject, body(crasher))
    settings = {
        "CARENET_CRASH_AT": "tally.note_of_149",
        "CARENET_MAX_DELIVER": "2",
        "CARENET_ACK_WAIT_SECONDS": "1",
    }
    crashes = 0
    for _ in range(2):
        process = service_process("tests.example", "tally", **settings).start()
        assert await asyncio.to_thread(process.wait, 30) == 70, process.output()
        crashes += 1
    survivor = service_process("tests.example", "tally", **settings).start()
    [letter] = await eventually(lambda: _dead_letters(nc), timeout=30)
    assert letter.headers["Carenet-Deliveries"] == "3"
    assert "without completing" in letter.headers["Carenet-Dlq-Reason"]
    good = note_event()
    await publish_raw(nc, good.nats_subject, body(good))

    async def tallied() -> int:
        conn = await asyncpg.connect(database_url, server_settings={"search_path": "tally"})
        try:
            return int(await conn.fetchval("SELECT n FROM counter"))
        finally:
            await conn.close()

    assert await eventually(tallied) == 1, "the service goes on after the dead letter"
    assert survivor.process.poll() is None
    assert crashes == 2


async def test_dead_letters_are_counted_in_metrics(start_service, nc):
    await start_service(NOTES)
    counting = await start_service(tally())
    await publish_raw(nc, "evt.jinsha.notes.note.added", b"\xff\xfe", msg_id="garbage-2")
    await eventually(lambda: _dead_letters(nc))
    metrics = await _get(counting.status.port, "/metrics")
    assert (
        'carenet_dead_letters_total{consumer="notes-events",reason="unparseable",service="tally"}'
        in metrics
    )


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def _get(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data.decode()


async def test_two_services_dead_lettering_the_same_event_each_keep_their_copy(start_service, nc):
    await start_service(NOTES)
    # Both consumers call their subscription "notes-events", as every service calls its
    # subscription to intake "intake-events".
    await start_service(tally(name="tally"))
    await start_service(tally(name="tallytwo"))
    await publish_raw(nc, "evt.jinsha.notes.note.added", b"{not json", msg_id="garbage-3")

    async def both() -> list:
        letters = await _dead_letters(nc)
        return letters if len(letters) == 2 else []

    letters = await eventually(both)
    assert sorted(letter.subject for letter in letters) == [
        "dlq.tally.notes-events",
        "dlq.tallytwo.notes-events",
    ]
    assert {letter.data for letter in letters} == {b"{not json"}
