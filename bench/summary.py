"""Workload 5, a year's all-sites summary over many attendances.

Setup (by SQL, straight into reporting's read models): people, and held sessions through the
year at the demo organisation's seven sites, all thirteen programme types and 400 programmes,
20 people present at each (``--attendances`` present marks in all) plus 0-3 walk-ins.
carenet: the ``summary`` query for site ``*`` and the year, through the running reporting
service over NATS (every figure of docs/figures.md, de-identified). Baseline: one SQL statement
computing the headline figures (``services.reporting.figures.HEADLINE``) over the same raw
rows. One warm-up each, then the median (and max) of five.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, get_args

import asyncpg
import nats

from bench.common import (
    AUTHORIZATION,
    Row,
    Servers,
    delete_streams,
    latency_side,
    median,
    say,
    services_running,
    wait_all_ready,
)
from bench.events import SITES, ensure_streams
from shared.kit.contracts.groups import ProgrammeType

PRESENT = 20
REPEATS = 5
YEAR = 2026

LOAD_PEOPLE = """
INSERT INTO reporting.people (person_id, site, roles, registered_on)
SELECT md5('person' || i)::uuid, ($2::text[])[1 + i % cardinality($2::text[])],
       CASE WHEN i % 3 = 0 THEN ARRAY['person_in_recovery'] ELSE ARRAY['family_carer'] END,
       date '2025-06-01' + i % 500
FROM generate_series(0, $1 - 1) AS i
"""

LOAD_SESSIONS = """
INSERT INTO reporting.sessions (session_id, site, programme_id, programme_type, tags,
                                session_on, held, cancelled, revision, present, walk_ins)
SELECT md5('session' || s)::uuid,
       ($3::text[])[1 + (s % 400) % cardinality($3::text[])],
       md5('programme' || s % 400)::uuid,
       ($4::text[])[1 + (s % 400) % cardinality($4::text[])],
       ARRAY['bench'],
       make_date($5, 1, 1) + s % 334,
       true, false, 1,
       ARRAY(SELECT md5('person' || ((s * 37 + k * 7919) % $2))::uuid
             FROM generate_series(1, $6) AS k),
       s % 4
FROM generate_series(0, $1 - 1) AS s
"""

HEADLINE_SQL = """
WITH period AS (SELECT make_date($1, 1, 1) AS first, make_date($1, 12, 31) AS last)
SELECT
  (SELECT count(*) FROM reporting.referrals, period
     WHERE received_on BETWEEN first AND last)::int AS referrals_received,
  (SELECT count(*) FROM reporting.cases, period
     WHERE opened_on BETWEEN first AND last AND kind IN ('new', 'reactivated'))::int
     AS cases_opened,
  (SELECT count(*) FROM reporting.cases, period
     WHERE opened_on <= last AND (closed_on IS NULL OR closed_on > last)
       AND (transferred_on IS NULL OR transferred_on > last))::int AS cases_active_end,
  (SELECT count(*) FROM reporting.sessions, period
     WHERE session_on BETWEEN first AND last AND held AND NOT cancelled)::int AS sessions_held,
  (SELECT coalesce(sum(cardinality(present) + walk_ins), 0) FROM reporting.sessions, period
     WHERE session_on BETWEEN first AND last AND held AND NOT cancelled)::int AS attendances,
  (SELECT count(DISTINCT p) FROM reporting.sessions, period, unnest(present) AS p
     WHERE session_on BETWEEN first AND last AND held AND NOT cancelled)::int
     AS unique_participants,
  (SELECT coalesce(sum(minutes), 0) / 60.0 FROM reporting.volunteer_hours, period
     WHERE worked_on BETWEEN first AND last
       AND NOT EXISTS (SELECT 1 FROM reporting.voids WHERE fact_id = hours_id))::float
     AS volunteer_hours,
  (SELECT count(*) FROM reporting.peer_contacts, period
     WHERE contact_on BETWEEN first AND last
       AND NOT EXISTS (SELECT 1 FROM reporting.voids WHERE fact_id = contact_id))::int
     AS peer_contacts
"""


async def _load(dsn: str, attendances: int) -> None:
    sessions = max(1, attendances // PRESENT)
    people = max(1000, attendances // 50)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(LOAD_PEOPLE, people, list(SITES))
        await conn.execute(
            LOAD_SESSIONS,
            sessions,
            people,
            list(SITES),
            list(get_args(ProgrammeType)),
            YEAR,
            PRESENT,
        )
        await conn.execute("ANALYZE reporting.people; ANALYZE reporting.sessions")
    finally:
        await conn.close()


async def _timed(repeats: int, once: Any) -> tuple[list[float], Any]:
    await once()  # warm-up: caches, plans, connections
    times = []
    result = None
    for _ in range(repeats):
        began = time.perf_counter()
        result = await once()
        times.append(time.perf_counter() - began)
    return times, result


async def run(servers: Servers, attendances: int) -> Row:
    await delete_streams(servers.nats_url)  # only the loaded rows count
    dsn = await servers.database("bench_summary")
    nc = await nats.connect(servers.nats_url)
    try:
        await ensure_streams(nc)  # reporting waits for its sources' streams
    finally:
        await nc.close()
    with contextlib.ExitStack() as stack:
        started = stack.enter_context(services_running(servers, dsn, ["reporting"]))
        await wait_all_ready(started)
        say(f"summary: loading {attendances:,} attendances")
        await _load(dsn, attendances)
        nc = await nats.connect(servers.nats_url)
        conn = await asyncpg.connect(dsn)
        try:

            async def query() -> dict[str, Any]:
                msg = await nc.request(
                    "qry.hq.reporting.summary",
                    json.dumps({"site": "*", "period": str(YEAR)}).encode(),
                    timeout=120,
                    headers=AUTHORIZATION,
                )
                reply: dict[str, Any] = json.loads(msg.data)
                if not reply.get("ok"):
                    raise RuntimeError(f"summary failed: {reply}")
                return reply["result"]

            async def statement() -> asyncpg.Record:
                return await conn.fetchrow(HEADLINE_SQL, YEAR)

            say("summary: carenet summary query")
            kit_times, kit = await _timed(REPEATS, query)
            say("summary: one SQL statement")
            base_times, base = await _timed(REPEATS, statement)
        finally:
            await conn.close()
            await nc.close()
    checked = ("sessions_held", "attendances", "unique_participants")
    figures = {name: (kit["figures"][name]["total"], base[name]) for name in checked}
    agree = all(mine == theirs for mine, theirs in figures.values())
    return Row(
        workload=f"a year's all-sites summary, {attendances:,} attendances",
        unit="s, median of 5",
        better="lower",
        carenet=latency_side(median(kit_times), kit_times),
        baseline=latency_side(median(base_times), base_times),
        note=(
            "carenet: every figure over NATS; baseline: the headline figures in one statement; "
            + ("sessions, attendances, participants agree" if agree else f"DIFFER: {figures}")
        ),
    )
