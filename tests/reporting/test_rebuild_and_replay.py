"""Exactly once: replays, duplicates and a full rebuild never change a figure."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any
from uuid import uuid4

from tests.conftest import REPO, eventually
from tests.reporting import expected
from tests.reporting.agency import Agency
from tests.reporting.conftest import HAS_VOLUNTEERS, SOURCES, settled, summary
from tests.reporting.scenario import october
from tests.reporting.test_month import CENTRE

VIEWS: tuple[tuple[str, Any, bool], ...] = (
    ("likang", "2026-10", True),
    ("nanyuan", "2026-10", True),
    ("*", "2026-10", False),
    ("*", "2026", False),
    ("likang", "2026-09", True),
)


async def everything(nc) -> list[dict[str, Any]]:
    return [await summary(nc, site, period, exact) for site, period, exact in VIEWS]


async def rebuild_cli(nats_url: str, database_url: str) -> tuple[int, str, str]:
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": database_url}
    env["PYTHONPATH"] = str(REPO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        "reporting",
        "rebuild",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_rebuild_beside_the_live_service_gives_identical_figures(
    nc, system, nats_url, database_url
):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    before = await everything(nc)
    pool = system["reporting"].pool
    assert pool is not None
    # Staff keep working while the rebuild runs: the live consumers wait for it, then go on.
    rebuilding = asyncio.create_task(rebuild_cli(nats_url, database_url))
    late = [await agency.referral("jinsha", "school", "2026-10-30") for _ in range(3)]
    code, out, err = await rebuilding
    assert code == 0, err
    assert "events/s" in out and "rebuilt reporting from" in out
    assert "[" in err and "events" in err  # the progress bar
    await settled(nc, system)
    after = await everything(nc)
    assert len(late) == 3
    assert after[0]["figures"] == expected.figures(
        agency.ledger, CENTRE, "2026-10-01", "2026-10-31"
    )
    assert after[0]["figures"]["referrals_received"]["by"]["source"]["school"] == 3
    # The street programmes' outreach counts (12 + 3 + 7 people in October) come back too.
    assert after[0]["figures"]["outreach_contacts"]["total"] == 22
    assert after[0]["figures"]["goals_met"]["total"] == 7  # rebuilt from case.goal_met
    for view, old, new in zip(VIEWS, before, after, strict=True):
        if view[0] in ("likang", "*"):
            old["figures"].pop("referrals_received")
            new["figures"].pop("referrals_received")
            old["suppressed"] = [p for p in old["suppressed"] if "referrals_received" not in p]
            new["suppressed"] = [p for p in new["suppressed"] if "referrals_received" not in p]
        assert new == old, view
    # And a rebuild with nothing new in between is an exact copy.
    again_before = await everything(nc)
    code, _, err = await rebuild_cli(nats_url, database_url)
    assert code == 0, err
    assert await everything(nc) == again_before


async def test_redelivered_and_republished_events_change_nothing(nc, system):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    before = await everything(nc)
    js = nc.jetstream()
    copies = 0
    for stream in SOURCES:
        try:
            info = await js.stream_info(stream)
        except Exception:  # noqa: BLE001 - volunteers may not be running
            continue
        last = info.state.last_seq
        for seq in range(info.state.first_seq, last + 1):
            raw = await js.get_msg(stream, seq)
            assert raw.data is not None and raw.subject is not None
            body = json.loads(raw.data)
            # The same fact under a new event id: the inbox cannot recognise it, the read
            # models must (older attendance revisions included).
            body["id"] = str(uuid4())
            await js.publish(
                raw.subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": body["id"]}
            )
            copies += 1
    assert copies > 100
    await settled(nc, system)
    assert await everything(nc) == before
    # Every message delivered again, the inbox forgotten: the consumers recreate their
    # durables, replay the streams from the start and re-apply every event.
    runtime = system["reporting"]
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        await conn.execute("DELETE FROM inbox")
    for consumer in runtime.consumers:
        await js.delete_consumer(consumer.stream, consumer.durable)

    async def replayed() -> bool:
        async with runtime.pool.acquire() as conn:  # type: ignore[union-attr]
            return bool(await conn.fetchval("SELECT count(*) FROM inbox") >= copies)

    await eventually(replayed, timeout=30)
    await settled(nc, system)
    assert await everything(nc) == before
