"""Workload 3, freshness at a steady rate: a command's ok reply to its effect in reporting.

carenet: ``register_person`` sent at ``--rate`` per second for ``--seconds`` (open loop: each
at its time, whether or not the previous was answered), with reporting running. A trigger the
bench adds to reporting's ``people`` table sends ``NOTIFY`` with the person's id; PostgreSQL
delivers it when reporting's transaction commits, i.e. when a summary could first count the
person. The figure is the time from the ok reply reaching the client to that notification
reaching the bench (both on the bench's clock; 0 if the notification came first).

Baseline: one raw JetStream hop at the same rate: ``js.publish`` of a small message to a
stream, received by a durable pull consumer (``fetch`` in a loop) and acknowledged; the time
from just before publishing to its arrival at the consumer.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID

import asyncpg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from bench.commands import Cluster, register_body
from bench.common import Row, eventually, latency_side, percentile, say
from bench.events import ensure_streams

TRIGGER = """
CREATE OR REPLACE FUNCTION public.bench_person_counted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_counted', NEW.person_id::text);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS bench_person_counted ON reporting.people;
CREATE TRIGGER bench_person_counted AFTER INSERT ON reporting.people
    FOR EACH ROW EXECUTE FUNCTION public.bench_person_counted();
"""


async def _open_loop(rate: int, seconds: float, send: Any) -> tuple[int, float]:
    """Call ``send(i)`` at ``rate`` per second for ``seconds``: (sent, the rate at which they
    were done, from the first sent to the last finished)."""
    total = int(rate * seconds)
    tasks = []
    started = time.perf_counter()
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    done = time.perf_counter() - started
    return total, total / done if done > 0 else 0.0


async def _carenet(cluster: Cluster, rate: int, seconds: float) -> tuple[list[float], float]:
    counted: dict[UUID, float] = {}
    replied: dict[UUID, float] = {}
    listener = await asyncpg.connect(cluster.dsn)
    try:

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            counted.setdefault(UUID(payload), time.perf_counter())

        await listener.add_listener("bench_counted", on_notify)
        failures: list[dict[str, Any]] = []

        async def send(i: int) -> None:
            site, body = register_body(i)
            reply = await cluster.send("cmd", site, "intake", "register_person", body)
            at = time.perf_counter()
            if reply.get("ok"):
                replied[UUID(reply["result"]["person_id"])] = at
            else:
                failures.append(reply)

        sent, achieved = await _open_loop(rate, seconds, send)
        if failures:
            raise RuntimeError(f"freshness: {len(failures)} of {sent} failed: {failures[:2]}")

        async def all_counted() -> bool:
            return all(person in counted for person in replied)

        await eventually(all_counted, timeout=120, what="reporting to count every person")
    finally:
        await listener.close()
    return [max(0.0, counted[p] - at) for p, at in replied.items()], achieved


async def _hop(cluster: Cluster, rate: int, seconds: float) -> tuple[list[float], float]:
    js = cluster.nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH_HOP", subjects=["benchhop.>"]))
    await js.add_consumer(
        "BENCH_HOP",
        ConsumerConfig(
            durable_name="hop", deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT
        ),
    )
    pull = await js.pull_subscribe_bind(durable="hop", stream="BENCH_HOP")
    total = int(rate * seconds)
    latencies: list[float] = []

    async def receive() -> None:
        while len(latencies) < total:
            try:
                messages = await pull.fetch(100, timeout=0.5)
            except TimeoutError:
                continue
            for msg in messages:
                latencies.append(time.perf_counter() - json.loads(msg.data)["sent"])
                await msg.ack()

    receiving = asyncio.create_task(receive())

    async def send(i: int) -> None:
        await js.publish(f"benchhop.{i % 7}", json.dumps({"sent": time.perf_counter()}).encode())

    try:
        _sent, achieved = await _open_loop(rate, seconds, send)
        await asyncio.wait_for(receiving, 60)
    finally:
        receiving.cancel()
        await pull.unsubscribe()
        await js.delete_stream("BENCH_HOP")
    return latencies, achieved


async def run(cluster: Cluster, rate: int, seconds: float) -> Row:
    """Freshness with intake, groups and reporting running (reporting started here)."""
    say("freshness: starting reporting")
    await ensure_streams(cluster.nc)  # volunteers is not running; reporting waits for its stream
    await cluster.start("reporting")
    await cluster.fetchval("SELECT 1")
    conn = await asyncpg.connect(cluster.dsn)
    try:
        await conn.execute(TRIGGER)
    finally:
        await conn.close()

    async def reporting_caught_up() -> bool:
        behind = await cluster.fetchval(
            """SELECT (SELECT count(*) FROM intake.people)
                      - (SELECT count(*) FROM reporting.people)"""
        )
        return int(behind) == 0

    await eventually(reporting_caught_up, timeout=120, what="reporting to catch up")
    say(f"freshness: carenet, {rate}/s for {seconds:g} s")
    kit, kit_rate = await _carenet(cluster, rate, seconds)
    say("freshness: raw JetStream hop")
    hop, hop_rate = await _hop(cluster, rate, seconds)
    kit_side = latency_side(
        round(percentile(kit, 0.5) * 1000, 2), kit, achieved_rate=round(kit_rate)
    )
    hop_side = latency_side(
        round(percentile(hop, 0.5) * 1000, 2), hop, achieved_rate=round(hop_rate)
    )
    return Row(
        workload=f"freshness, `register_person` at {rate}/s for {seconds:g} s",
        unit="ms, p50",
        better="lower",
        carenet=kit_side,
        baseline=hop_side,
        note=(
            "carenet: ok reply to counted in reporting; baseline: one JetStream hop; "
            f"commands answered at {kit_rate:.0f}/s"
        ),
    )
