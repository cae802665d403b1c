"""A hub on a 3-node NATS cluster with R3 streams loses a node under load and goes on.

Intake and groups run against all three servers (``NATS_URL`` lists them) with
``CARENET_STREAM_REPLICAS=3``. A steady load of ``register_person`` commands runs (each sent
again with the same ``command_id`` while the answer is ``unavailable``, as the CLI tells users
to); the ``INTAKE`` stream's leader, which is also the server intake and the load are
connected to, is stopped (SIGTERM) or killed (SIGKILL). While it is away new commands succeed
and groups keeps applying intake's events; afterwards every acknowledged command has its row,
the stream holds each outbox event exactly once, groups applied each once, and the node is
back in the stream's replicas and current.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ClusterInfo, ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from shared.kit.bus.address import connect_nats
from shared.kit.bus.requests import request
from shared.kit.config import Settings, load_settings
from shared.kit.service import ServiceDefinition, ServiceRuntime
from shared.local.devservers import NatsCluster
from tests.conftest import eventually, service_env
from tests.identity import token_for

SITE = "likang"
RETRY_HORIZON_SECONDS = 30.0
"""How long one command may stay unanswered: a killed leader stalls JetStream for seconds."""
RESTARTED_NODE_CATCH_UP = 120.0
"""How long a restarted node may take to report healthy (its replicas current again)."""
WORKERS = 4
PAUSE_SECONDS = 0.02
"""Between one worker's commands: a steady load (~150 a second), not a flood."""
STEP = 40
"""Commands (or applied events) each phase waits for."""
KNOWN_PEOPLE = "SELECT count(*) FROM groups.known_people"


@dataclass
class Load:
    """Workers registering people one after another until ``stop`` is set."""

    nc: NatsClient
    token: str = field(default_factory=lambda: token_for("sw-cluster"))
    acknowledged: dict[str, tuple[float, float]] = field(default_factory=dict)
    """command_id -> (first sent, acknowledged), loop time."""
    retries: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def worker(self, n: int) -> None:
        loop = asyncio.get_running_loop()
        count = 0
        while not self.stop.is_set():
            count += 1
            body = {
                "command_id": str(uuid.uuid4()),
                "preferred_name": f"Load {n}-{count}",
                "roles": ["family_carer"],
            }
            first = loop.time()
            while True:
                reply = await request(
                    self.nc,
                    "cmd",
                    SITE,
                    "intake",
                    "register_person",
                    body,
                    timeout=2,
                    token=self.token,
                )
                if reply.ok:
                    self.acknowledged[body["command_id"]] = (first, loop.time())
                    await asyncio.sleep(PAUSE_SECONDS)
                    break
                assert reply.error is not None and reply.error.code == "unavailable", reply.error
                self.retries += 1
                assert loop.time() - first < RETRY_HORIZON_SECONDS, "a command never got through"

    def acknowledged_between(self, start: float, end: float) -> int:
        """Commands first sent and acknowledged within ``start..end``."""
        return sum(1 for sent, done in self.acknowledged.values() if start <= sent and done <= end)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "hub", name="hub") as running:
        yield running


def _settings(cluster: NatsCluster, database_url: str, service: str) -> Settings:
    env = service_env(cluster.url, database_url, CARENET_STREAM_REPLICAS="3")
    return load_settings(service, env)


@pytest.fixture
async def services(
    cluster: NatsCluster, database_url: str
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    started: dict[str, ServiceRuntime] = {}
    builders: dict[str, Callable[[Settings], ServiceDefinition]] = {
        "intake": build_intake,
        "groups": build_groups,
    }
    try:
        for name, build in builders.items():
            settings = _settings(cluster, database_url, name)
            runtime = ServiceRuntime(build(settings), settings)
            started[name] = runtime
            await asyncio.wait_for(runtime.start(), timeout=30)
        yield started
    finally:
        for runtime in reversed(started.values()):
            await asyncio.wait_for(runtime.stop(), timeout=30)


async def _stream(nc: NatsClient, name: str) -> StreamInfo:
    # A stream without a leader answers nothing for a few seconds: ask again.
    js = nc.jetstream(timeout=2)
    deadline = asyncio.get_running_loop().time() + RETRY_HORIZON_SECONDS
    while True:
        try:
            return await js.stream_info(name)
        except Exception:  # no leader yet (a timeout, a 503): ask again
            if asyncio.get_running_loop().time() > deadline:
                raise


async def _lead_from(nc: NatsClient, stream: str, server: str) -> None:
    """Move ``stream``'s leader to ``server`` (a step-down with a preferred successor)."""

    async def leads() -> bool:
        info = await _stream(nc, stream)
        if info.cluster is not None and info.cluster.leader == server:
            return True
        payload = json.dumps({"placement": {"preferred": server}}).encode()
        try:
            await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", payload, timeout=2)
        except Exception:  # noqa: BLE001 - an election is under way: look again
            pass
        return False

    await eventually(leads, timeout=20, interval=0.5)


async def _stream_msg_ids(nc: NatsClient, stream: str) -> list[str]:
    """The ``Nats-Msg-Id`` of every message in ``stream``, in order (headers only)."""
    js = nc.jetstream(timeout=5)
    info = await js.add_consumer(
        stream,
        ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            mem_storage=True,
            inactive_threshold=30.0,
        ),
    )
    assert info.name is not None
    total = info.num_pending or 0
    pull = await js.pull_subscribe_bind(consumer=info.name, stream=stream)
    ids: list[str] = []
    try:
        while len(ids) < total:
            for msg in await pull.fetch(500, timeout=5):
                ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
    finally:
        await pull.unsubscribe()
        await js.delete_consumer(stream, info.name)
    return ids


async def _count(conn: asyncpg.Connection, sql: str, *args: object) -> int:
    return int(await conn.fetchval(sql, *args))


def _replicated(cluster: ClusterInfo | None, servers: set[str]) -> bool:
    """A leader and two current replicas, one on each server."""
    if cluster is None or cluster.leader is None or cluster.replicas is None:
        return False
    members = [cluster.leader, *(peer.name for peer in cluster.replicas)]
    current = all(peer.current and not peer.offline for peer in cluster.replicas)
    return sorted(members) == sorted(servers) and current


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_commands_and_events_go_on_while_a_node_is_down_and_nothing_is_lost(
    how: str, cluster: NatsCluster, services: dict[str, ServiceRuntime], database_url: str
) -> None:
    servers = {str(node.server_name) for node in cluster.nodes}
    intake = services["intake"]
    assert intake.broker is not None
    # Intake's connection picks a server at random; make that one the stream leader and the
    # load's first server, so the outage hits JetStream's leader and the clients at once.
    connected = intake.broker.connection.connected_url
    assert connected is not None
    victim = next(node for node in cluster.nodes if node.port == connected.port)
    assert victim.server_name is not None
    load_urls = ",".join([victim.url, *(n.url for n in cluster.nodes if n is not victim)])
    nc = await connect_nats(
        load_urls, dont_randomize=True, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    conn = await asyncpg.connect(database_url)
    try:
        durable = services["groups"].consumers[0].durable

        async def all_replicated() -> bool:
            streams = [await _stream(nc, name) for name in ("INTAKE", "GROUPS", "DLQ")]
            try:  # the replica that wins the consumer's lead creates the durable
                consumer = await nc.jetstream().consumer_info("INTAKE", durable)
            except NotFoundError:
                return False
            return all(info.config.num_replicas == 3 for info in streams) and all(
                _replicated(info.cluster, servers) for info in [*streams, consumer]
            )

        await eventually(all_replicated, timeout=20, interval=0.2)
        await _lead_from(nc, "INTAKE", victim.server_name)

        load = Load(nc)
        loop = asyncio.get_running_loop()
        workers = [asyncio.create_task(load.worker(n)) for n in range(WORKERS)]
        try:
            await eventually(lambda: _ok(len(load.acknowledged) >= STEP), timeout=20)
            await asyncio.to_thread(victim.stop if how == "stop" else victim.kill)
            down_at = loop.time()
            applied_at_stop = await _count(conn, KNOWN_PEOPLE)

            # While it is away: new commands are acknowledged and groups keeps applying.
            await eventually(
                lambda: _ok(load.acknowledged_between(down_at, loop.time()) >= 1), timeout=30
            )
            commands_resumed = loop.time() - down_at
            await eventually(lambda: _count_above(conn, KNOWN_PEOPLE, applied_at_stop), timeout=30)
            events_resumed = loop.time() - down_at
            await eventually(
                lambda: _ok(load.acknowledged_between(down_at, loop.time()) >= STEP), timeout=30
            )
            applied = await _count(conn, KNOWN_PEOPLE)
            await eventually(lambda: _count_above(conn, KNOWN_PEOPLE, applied + STEP), timeout=30)
            back_at = loop.time()
            acknowledged_while_down = load.acknowledged_between(down_at, back_at)

            await asyncio.to_thread(victim.start)
            restarted = len(load.acknowledged)
            await eventually(lambda: _ok(len(load.acknowledged) >= restarted + STEP), timeout=20)
        finally:
            load.stop.set()
            done = await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 40)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

        # The node is back: a member of every stream again, and current. A killed node replays
        # its store and catches up on everything written while it was away before /healthz
        # says 200; on a loaded two-core CI run that took more than 30 s once.
        await asyncio.to_thread(cluster.wait_healthy, RESTARTED_NODE_CATCH_UP)

        await eventually(all_replicated, timeout=30, interval=0.2)

        # Nothing acknowledged lost, nothing doubled.
        acknowledged = len(load.acknowledged)
        people = await _count(conn, "SELECT count(*) FROM intake.people")
        logged = await _count(
            conn,
            "SELECT count(*) FROM intake.command_log WHERE command_id = ANY($1::uuid[])",
            list(load.acknowledged),
        )
        assert (people, logged) == (acknowledged, acknowledged)
        await eventually(
            lambda: _count_is(
                conn, "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL", 0
            ),
            timeout=30,
        )
        outbox = {
            str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM intake.outbox")
        }
        assert len(outbox) == acknowledged
        in_stream = await _stream_msg_ids(nc, "INTAKE")
        assert sorted(in_stream) == sorted(outbox)  # one message per outbox row, no more
        await eventually(lambda: _count_is(conn, KNOWN_PEOPLE, acknowledged), timeout=30)
        applied = [
            str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM groups.inbox")
        ]
        assert sorted(applied) == sorted(outbox)  # each event applied, once
        print(
            f"\n{how}: {acknowledged} commands acknowledged ({acknowledged_while_down} sent and "
            f"acknowledged while {victim.server_name} was down, {back_at - down_at:.1f} s), "
            f"{load.retries} retried; commands resumed after {commands_resumed:.1f} s, events "
            f"after {events_resumed:.1f} s"
        )
    finally:
        await conn.close()
        await nc.close()


async def _ok(value: bool) -> bool:
    return value


async def _count_is(conn: asyncpg.Connection, sql: str, expected: int) -> bool:
    return await _count(conn, sql) == expected


async def _count_above(conn: asyncpg.Connection, sql: str, count: int) -> bool:
    return await _count(conn, sql) > count
