"""A consumer says whether it is working, and does not grow the connection as it works."""

from __future__ import annotations

from uuid import uuid4

from prometheus_client import REGISTRY

from shared.kit.bus.streams import stream_config
from tests.bus.helpers import publish_raw
from tests.bus.test_consumer_order import applied, dead_letters, notes_stream, opened, publish
from tests.conftest import eventually
from tests.example.ordering import cases


def _running_gauge(durable: str) -> float | None:
    return REGISTRY.get_sample_value(
        "carenet_consumer_running", {"service": "cases", "consumer": durable}
    )


async def test_a_consumer_whose_stream_is_gone_is_not_healthy_until_it_is_back(
    start_service, nc, database_url
):
    await notes_stream(nc)
    runtime = await start_service(cases())
    [consumer] = runtime.consumers

    async def healthy() -> bool:
        return consumer.healthy and _running_gauge(consumer.durable) == 1

    async def paused() -> bool:
        return not consumer.healthy and _running_gauge(consumer.durable) == 0

    await eventually(healthy)
    await nc.jetstream().delete_stream("NOTES")
    await eventually(paused)
    await nc.jetstream().add_stream(stream_config("notes"))
    await eventually(healthy, timeout=20)
    event = opened(uuid4())
    await publish(nc, event)
    assert await eventually(lambda: applied(database_url)) == [(event.id, "opened")]


async def test_the_connection_keeps_the_same_subscriptions_however_many_batches_are_handled(
    start_service, nc, database_url
):
    await notes_stream(nc)
    runtime = await start_service(cases())
    assert runtime.broker is not None
    connection = runtime.broker.connection
    first = opened(uuid4())
    await publish(nc, first)
    await eventually(lambda: applied(database_url))
    before = len(connection._subs)

    await publish(nc, *[opened(uuid4()) for _ in range(20)])
    for i in range(5):  # dead letters are published through the consumer's JetStream context
        await publish_raw(nc, "evt.jinsha.notes.case.opened", b"{not json", msg_id=f"bad-{i}")

    async def all_done() -> bool:
        return len(await applied(database_url)) == 21 and len(await dead_letters(nc)) == 5

    await eventually(all_done, timeout=30)
    assert len(connection._subs) == before


async def test_the_delivery_count_read_from_the_ack_subject_is_the_servers(nc):
    from nats.js.api import StreamConfig

    from shared.kit.bus.consumer import delivery_count

    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="COUNTS", subjects=["counts.>"]))
    await js.publish("counts.one", b"x")
    pull = await js.pull_subscribe("counts.>", durable="counter")
    for expected in (1, 2, 3):
        [msg] = await pull.fetch(1, timeout=5)
        assert delivery_count(msg) == msg.metadata.num_delivered == expected
        await msg.nak()
