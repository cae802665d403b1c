"""Workload 2, commands from concurrent clients: the real services against a raw responder.

carenet's side is ``python -m services.intake`` and ``python -m services.groups``, one process
each as in production, on one database. The baseline is ``bench/responder.py`` (one process,
its own database with the same tables). Both get the same request bodies from the same
clients (``--clients`` tasks on one NATS connection, each sending its next request when the
previous is answered, through plain ``nc.request``), one command after the other:
``register_person``, then ``enrol`` of those people (once groups has learnt of them from
intake's events) into programmes created through groups, then ``record_attendance`` of
enrolled people at those programmes' sessions, one session per request.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from bench.common import (
    AUTHORIZATION,
    BENCH_JWKS,
    REPO,
    Row,
    Servers,
    ServiceProcess,
    delete_streams,
    eventually,
    latency_side,
    one_by_one,
    say,
    services_running,
    wait_all_ready,
)
from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.db import migrations

SERVICES = Path(REPO) / "services"
SITES = ("likang", "nanyuan", "jinsha", "longjin")
PROGRAMMES_PER_SITE = 4
PRESENT_PER_SESSION = 8


class Cluster:
    """The running services, a client connection and the database, for the workloads that
    need carenet running (commands, freshness)."""

    def __init__(
        self, servers: Servers, dsn: str, nc: NatsClient, stack: contextlib.ExitStack
    ) -> None:
        self.servers = servers
        self.dsn = dsn
        self.nc = nc
        self.stack = stack
        self.processes: list[ServiceProcess] = []

    async def start(self, *names: str) -> None:
        started = self.stack.enter_context(services_running(self.servers, self.dsn, names))
        self.processes.extend(started)
        await wait_all_ready(started)

    async def send(
        self, prefix: str, site: str, service: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A request's reply (``{"ok": false, ...}`` for a timeout too)."""
        try:
            msg = await self.nc.request(
                f"{prefix}.{site}.{service}.{name}",
                json.dumps(body).encode(),
                timeout=120,
                headers=AUTHORIZATION,
            )
        except (TimeoutError, nats.errors.Error) as exc:
            return {"ok": False, "error": {"code": "timeout", "message": repr(exc)}}
        reply: dict[str, Any] = json.loads(msg.data)
        return reply

    async def ok(self, site: str, service: str, name: str, **fields: Any) -> dict[str, Any]:
        body = {"command_id": str(uuid4()), **fields}
        reply = await self.send("cmd", site, service, name, body)
        if not reply.get("ok"):
            raise RuntimeError(f"{name} failed: {reply}")
        result: dict[str, Any] = reply["result"]
        return result

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()


def register_body(i: int) -> tuple[str, dict[str, Any]]:
    return SITES[i % len(SITES)], {
        "command_id": str(uuid4()),
        "preferred_name": f"Bench Person {i} {uuid4().hex[:6]}",
        "roles": ["family_carer"] if i % 3 else ["person_in_recovery"],
        "birth_year": 1950 + i % 50,
        "language": "yue",
    }


async def measure(
    cluster: Cluster,
    prefix: str,
    service: str,
    name: str,
    bodies: list[tuple[str, dict[str, Any]]],
    clients: int,
    replies: dict[int, dict[str, Any]] | None = None,
) -> tuple[float, list[float]]:
    """(requests/s, latencies) of sending ``bodies`` from ``clients`` clients; all must be ok."""
    failed: list[dict[str, Any]] = []

    async def send(index: int) -> bool:
        site, body = bodies[index]
        reply = await cluster.send(prefix, site, service, name, body)
        if not reply.get("ok"):
            failed.append(reply)
            return False
        if replies is not None:
            replies[index] = reply["result"]
        return True

    seconds, latencies, failures = await one_by_one(len(bodies), clients, send)
    if failures:
        raise RuntimeError(f"{prefix} {name}: {failures} requests failed, e.g. {failed[:2]}")
    return len(bodies) / seconds, latencies


async def _baseline_database(servers: Servers, carenet_dsn: str) -> str:
    """The baseline's database: intake's and groups' tables, with carenet's programmes and
    sessions copied in (so both sides enrol into and take attendance at the same ones)."""
    dsn = await servers.database("bench_baseline")
    conn = await asyncpg.connect(dsn)
    source = await asyncpg.connect(carenet_dsn)
    try:
        for service in ("intake", "groups"):
            await migrations.migrate(conn, service, SERVICES / service / "migrations")
        for table in ("programmes", "sessions"):
            rows = await source.fetch(f"SELECT * FROM groups.{table}")
            await conn.copy_records_to_table(table, schema_name="groups", records=rows)
    finally:
        await source.close()
        await conn.close()
    return dsn


@contextlib.contextmanager
def _responder(nats_url: str, dsn: str, log: Path) -> Any:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.responder", nats_url, dsn, "--jwks", str(BENCH_JWKS)],
            cwd=REPO,
            stdout=out,
            stderr=out,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _programmes(cluster: Cluster, sessions_needed: int) -> list[tuple[str, UUID]]:
    """Programmes created through groups, each with a year of daily sessions up to yesterday."""
    zone = load_organisation(DEMO_ORGANISATION).zone
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    per_site = max(PROGRAMMES_PER_SITE, -(-sessions_needed // (366 * len(SITES))))
    made = []
    for site in SITES:
        for k in range(per_site):
            result = await cluster.ok(
                site,
                "groups",
                "create_programme",
                title=f"Bench programme {site} {k}",
                type=("support_group", "interest_class", "psychoeducation_talk")[k % 3],
                capacity=10_000,
                tags=["bench"],
                venue=f"Room {k} at {site}",
                schedule={
                    "first_date": (yesterday - timedelta(days=365)).isoformat(),
                    "start_time": "10:00",
                    "duration_min": 90,
                    "repeat": "daily",
                    "count": 366,
                },
            )
            made.append((site, UUID(result["programme_id"])))
    return made


async def run(
    servers: Servers,
    *,
    requests: int,
    clients: int,
    commands_too: bool = True,
    freshness: Callable[[Cluster], Awaitable[Row]] | None = None,
) -> list[Row]:
    """The three commands on both sides; then, with carenet still running, ``freshness``."""
    await delete_streams(servers.nats_url)
    dsn = await servers.database("bench_commands")
    rows: list[Row] = []
    nc = await nats.connect(servers.nats_url)
    try:
        with contextlib.ExitStack() as stack:
            cluster = Cluster(servers, dsn, nc, stack)
            say("commands: starting intake and groups")
            await cluster.start("intake", "groups")
            if commands_too:
                rows.extend(await _commands(cluster, requests, clients))
            if freshness is not None:
                rows.append(await freshness(cluster))
    finally:
        await nc.close()
    return rows


async def _commands(cluster: Cluster, requests: int, clients: int) -> list[Row]:
    servers = cluster.servers
    programmes = await _programmes(cluster, requests)
    baseline_dsn = await _baseline_database(servers, cluster.dsn)
    rows = []
    with _responder(servers.nats_url, baseline_dsn, servers.logs / "responder.log"):
        await eventually(
            lambda: _pong(cluster.nc), timeout=30, what="the baseline responder", interval=0.2
        )

        async def both(
            service: str,
            name: str,
            bodies: list[tuple[str, dict[str, Any]]],
            replies: dict[int, dict[str, Any]] | None = None,
        ) -> None:
            say(f"commands: {name}, {len(bodies):,} requests from {clients} clients, carenet")
            kit, kit_latencies = await measure(
                cluster, "cmd", service, name, bodies, clients, replies
            )
            say(f"commands: {name}, baseline")
            base, base_latencies = await measure(cluster, "bench", service, name, bodies, clients)
            rows.append(
                Row(
                    workload=f"`{name}` from {clients} clients ({len(bodies):,} requests)",
                    unit="requests/s",
                    better="higher",
                    carenet=latency_side(kit, kit_latencies),
                    baseline=latency_side(base, base_latencies),
                    note="latency: request to reply",
                )
            )

        registered: dict[int, dict[str, Any]] = {}
        await both(
            "intake", "register_person", [register_body(i) for i in range(requests)], registered
        )
        people = [UUID(registered[i]["person_id"]) for i in range(requests)]

        async def groups_knows_everyone() -> bool:
            known = await cluster.fetchval(
                "SELECT count(*) FROM groups.known_people WHERE person_id = ANY($1::uuid[])", people
            )
            return int(known) == len(people)

        await eventually(groups_knows_everyone, timeout=120, what="groups to learn every person")
        # Each person in a programme of the site that registered them: enrolling elsewhere
        # needs their consent to share, which the bench does not record.
        at_site = {site: [p for s, p in programmes if s == site] for site in SITES}
        enrolments = []
        for i, person in enumerate(people):
            site = register_body(i)[0]
            programme = at_site[site][(i // len(SITES)) % len(at_site[site])]
            body = {
                "command_id": str(uuid4()),
                "programme_id": str(programme),
                "person_id": str(person),
            }
            enrolments.append((site, body))
        await both("groups", "enrol", enrolments)
        await both("groups", "record_attendance", await _attendance_bodies(cluster, requests))
    return rows


async def _attendance_bodies(cluster: Cluster, requests: int) -> list[tuple[str, dict[str, Any]]]:
    """One request per session (most recent first), naming people enrolled in its programme."""
    enrolled: dict[UUID, list[str]] = {}
    for r in await cluster.fetch(
        "SELECT programme_id, person_id FROM groups.enrolments WHERE status = 'enrolled'"
    ):
        enrolled.setdefault(r["programme_id"], []).append(str(r["person_id"]))
    sessions = await cluster.fetch(
        """SELECT session_id, programme_id, site FROM groups.sessions
           ORDER BY starts_at DESC, session_id LIMIT $1""",
        requests,
    )
    if len(sessions) < requests:
        raise RuntimeError(f"only {len(sessions)} sessions for {requests} requests")
    bodies = []
    for i, s in enumerate(sessions):
        people = enrolled.get(s["programme_id"], [])
        start = (i * PRESENT_PER_SESSION) % max(1, len(people))
        present = (people + people)[start : start + PRESENT_PER_SESSION][: len(people)]
        bodies.append(
            (
                s["site"],
                {
                    "command_id": str(uuid4()),
                    "session_id": str(s["session_id"]),
                    "present": present,
                    "walk_ins": i % 3,
                },
            )
        )
    return bodies


async def _pong(nc: NatsClient) -> bool:
    try:
        await nc.request("bench.ping", b"", timeout=0.5)
    except (TimeoutError, nats.errors.Error):
        return False
    return True
