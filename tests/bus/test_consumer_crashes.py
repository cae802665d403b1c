"""A crash counts against the event that caused it, never against its batch-mates, and a
graceful stop counts against nothing."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from tests.bus.helpers import body
from tests.bus.test_consumer_order import (
    applied,
    dead_letters,
    in_cases,
    notes_stream,
    opened,
    publish,
)
from tests.conftest import eventually, started_runtime
from tests.example.ordering import STARTED, cases


async def test_a_batch_with_one_crashing_event_dead_letters_only_that_event(
    service_process, nc, database_url
):
    await notes_stream(nc)
    events = [opened(uuid4(), crash=i == 4) for i in range(10)]
    await publish(nc, *events)
    settings = {
        "CARENET_CRASH_AT": "cases.crash",
        "CARENET_MAX_DELIVER": "2",
        "CARENET_ACK_WAIT_SECONDS": "1",
    }
    crashes = 0
    survivor = None
    for _ in range(6):
        process = service_process("tests.example", "cases", "10", **settings).start()

        async def outcome(process=process) -> str | None:
            if process.process.poll() is not None:
                return "exited"
            return "dead-lettered" if await dead_letters(nc) else None

        if await eventually(outcome, timeout=30) == "dead-lettered":
            survivor = process
            break
        assert process.process.returncode == 70, process.output()
        crashes += 1
    assert survivor is not None, "the crasher was never dead-lettered"

    async def nine_applied() -> list:
        done = await applied(database_url)
        return done if len(done) == 9 else []

    innocent = [e for e in events if not e.data["crash"]]
    assert [event_id for event_id, _ in await eventually(nine_applied)] == [e.id for e in innocent]
    [letter] = await dead_letters(nc)
    assert letter.data == body(events[4])
    assert "without completing" in letter.headers["Carenet-Dlq-Reason"]
    # Once in the batch (not counted against anyone), then max_deliver times on its own.
    assert crashes == 3
    await asyncio.sleep(0.5)
    assert len(await applied(database_url)) == 9
    assert survivor.process.poll() is None


async def test_a_stop_while_a_slow_handler_runs_does_not_count_an_attempt(
    settings_for, nc, database_url
):
    await notes_stream(nc)
    settings = {
        "CARENET_MAX_DELIVER": "1",
        "CARENET_ACK_WAIT_SECONDS": "1",
        "CARENET_GRACEFUL_TIMEOUT_SECONDS": "1",
    }
    first = await started_runtime(settings_for, cases(), **settings)
    try:
        await in_cases(database_url, "INSERT INTO hold VALUES ('the test holds it')")
        slow = opened(uuid4(), slow=True)
        await publish(nc, slow)

        async def handler_started() -> bool:
            return slow.id in STARTED

        await eventually(handler_started)
    finally:
        await first.stop()
    [row] = await in_cases(database_url, "SELECT count(*) AS n FROM consumer_attempts")
    assert row["n"] == 0, "the attempt cut short by the stop is not counted"
    await in_cases(database_url, "DELETE FROM hold")

    second = await started_runtime(settings_for, cases(), **settings)
    try:
        assert await eventually(lambda: applied(database_url)) == [(slow.id, "opened")]
        assert await dead_letters(nc) == []
    finally:
        await second.stop()


async def test_a_stop_lets_the_event_in_hand_finish_within_the_graceful_timeout(
    settings_for, nc, database_url
):
    await notes_stream(nc)
    settings = {"CARENET_MAX_DELIVER": "1", "CARENET_GRACEFUL_TIMEOUT_SECONDS": "10"}
    runtime = await started_runtime(settings_for, cases(), **settings)
    try:
        await in_cases(database_url, "INSERT INTO hold VALUES ('the test holds it')")
        slow = opened(uuid4(), slow=True)
        await publish(nc, slow)

        async def handler_started() -> bool:
            return slow.id in STARTED

        await eventually(handler_started)

        async def release() -> None:
            await asyncio.sleep(0.5)
            await in_cases(database_url, "DELETE FROM hold")

        releasing = asyncio.create_task(release())
    finally:
        await runtime.stop()
    await releasing
    assert await applied(database_url) == [(slow.id, "opened")]
    info = await nc.jetstream().consumer_info("NOTES", "cases_notes-events")
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
