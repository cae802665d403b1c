"""Workload 4, rebuild: ``carenet reporting rebuild`` against an ordered-consumer replay.

Both run as child processes over the same streams (``--rebuild-events`` mixed events of the
three sources) into the same tables of one database (carenet: schema ``reporting``; baseline:
``bench/replay.py`` into schema ``baseline``). The figure is events per second over each
side's own replay time (what the rebuild command prints; process start-up excluded on both
sides), with the child's peak RSS from ``bench/peak.py``.
"""

from __future__ import annotations

import json
import re

import asyncpg
import nats

from bench.common import Row, Servers, Side, delete_streams, run_child, say, service_env
from bench.events import ensure_streams, mixed_events, publish
from services.reporting.rebuild import MIGRATIONS
from shared.kit.db import migrations

PUBLISH_CHUNK = 50_000


async def run(servers: Servers, events: int) -> Row:
    await delete_streams(servers.nats_url)
    dsn = await servers.database("bench_rebuild")
    nc = await nats.connect(servers.nats_url)
    try:
        await ensure_streams(nc)
        say(f"rebuild: publishing {events:,} mixed events")
        for start in range(0, events, PUBLISH_CHUNK):
            await publish(nc, mixed_events(min(PUBLISH_CHUNK, events - start)))
    finally:
        await nc.close()
    conn = await asyncpg.connect(dsn)
    try:
        await migrations.migrate(conn, "baseline", MIGRATIONS)
    finally:
        await conn.close()
    env = service_env(servers.nats_url, dsn)
    say("rebuild: baseline (ordered consumer + batched insert)")
    out, _wall, base_rss = run_child(
        ["bench.replay", servers.nats_url, dsn],
        env,
        servers.logs / "replay.log",
    )
    base = json.loads(out.strip().splitlines()[-1])
    say("rebuild: carenet reporting rebuild")
    out, _wall, kit_rss = run_child(
        ["shared.cli", "reporting", "rebuild"],
        env,
        servers.logs / "rebuild.log",
    )
    found = re.search(r"rebuilt reporting from ([\d,]+) events .*: ([\d,]+) events/s", out)
    if found is None:
        raise RuntimeError(f"rebuild printed no summary line: {out[-500:]}")
    kit_read = int(found.group(1).replace(",", ""))
    kit_rate = float(found.group(2).replace(",", ""))
    if kit_read != events or base["read"] != events:
        raise RuntimeError(f"rebuild read {kit_read}, baseline {base['read']}, of {events}")
    return Row(
        workload=f"rebuild, {events:,} mixed events",
        unit="events/s",
        better="higher",
        carenet=Side(kit_rate, extra={"peak_rss_mib": kit_rss}),
        baseline=Side(events / base["seconds"], extra={"peak_rss_mib": base_rss}),
        note=f"peak RSS: carenet {kit_rss} MiB, baseline {base_rss} MiB",
    )
