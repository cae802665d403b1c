"""The dev servers are real: JetStream and PostgreSQL start on free ports and keep their data."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import nats
import pytest
from nats.js.api import StorageType

from shared.local.devservers import (
    DevServerError,
    NatsCluster,
    NatsServer,
    PostgresServer,
    free_port,
    port_is_free,
)

MACHINE_PORTS = {4222, 5432}
T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_free_port_is_bindable_and_never_a_machine_port() -> None:
    ports = {free_port() for _ in range(20)}
    assert not ports & MACHINE_PORTS
    assert all(port_is_free(port) for port in ports)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_is_free(listener.getsockname()[1])


async def _fill_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.account_info()
        assert info.limits is not None
        await js.add_stream(name="PROBE", subjects=["probe.>"], storage=StorageType.FILE)
        for n in range(3):
            await js.publish(f"probe.{n}", b"kept")
    finally:
        await nc.close()


async def _stream_messages(url: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info("PROBE")
        return info.state.messages
    finally:
        await nc.close()


def test_nats_runs_jetstream_on_free_port_and_keeps_streams(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats") as server:
        assert server.port not in MACHINE_PORTS
        assert server.monitor_port not in MACHINE_PORTS
        assert server.url == f"nats://127.0.0.1:{server.port}"
        asyncio.run(_fill_stream(server.url))

        port = server.port
        server.restart()
        assert server.port == port
        assert asyncio.run(_stream_messages(server.url)) == 3

        server.kill()
        assert not server.is_running
        server.start()
        assert asyncio.run(_stream_messages(server.url)) == 3
    assert not server.is_running
    assert port_is_free(port)


def test_nats_takes_config_file_and_server_name(tmp_path: Path) -> None:
    config = tmp_path / "extra.conf"
    config.write_text("jetstream { sync_interval: always }\n")
    with NatsServer(tmp_path / "js", config_file=config, server_name="carenet-test") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.monitor_port, timeout=2)
        conn.request("GET", "/varz")
        varz = json.loads(conn.getresponse().read())
        conn.close()
    assert varz["server_name"] == "carenet-test"
    assert varz["port"] == server.port
    assert str(tmp_path / "js") in varz["jetstream"]["config"]["store_dir"]
    assert varz["jetstream"]["config"]["sync_always"] is True


def _monitor(server: NatsServer, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", server.monitor_port, timeout=2)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


async def _r3_stream(urls: list[str], publishes: int) -> tuple[str | None, int]:
    """Publish to an R3 stream (made if missing), riding out a leader election as a client
    must: the same Nats-Msg-Id again until acknowledged."""
    nc = await nats.connect(urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream(timeout=1)
    deadline = time.monotonic() + 20

    async def patiently(call: Callable[[], Awaitable[T]]) -> T:
        while True:
            try:
                return await call()
            except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
                assert time.monotonic() < deadline, "no stream leader within 20 s"

    try:
        try:
            await patiently(lambda: js.stream_info("PROBE"))
        except nats.js.errors.NotFoundError:
            await js.add_stream(name="PROBE", subjects=["probe.>"], num_replicas=3)
        for n in range(publishes):
            headers = {"Nats-Msg-Id": f"{publishes}-{n}"}
            await patiently(lambda: js.publish(f"probe.{n}", b"kept", headers=headers))  # noqa: B023
        info = await patiently(lambda: js.stream_info("PROBE"))
        assert info.cluster is not None
        return info.cluster.leader, info.state.messages
    finally:
        await nc.close()


def test_nats_cluster_forms_elects_a_meta_leader_and_keeps_r3_streams_across_a_node(
    tmp_path: Path,
) -> None:
    with NatsCluster(tmp_path / "hub", name="hub") as cluster:
        assert len(set(cluster.urls)) == 3
        assert cluster.url == ",".join(cluster.urls)
        ports = {p for n in cluster.nodes for p in (n.port, n.monitor_port, n.cluster_port)}
        assert len(ports) == 9 and not ports & MACHINE_PORTS
        for node in cluster.nodes:
            varz = _monitor(node, "/varz")
            assert varz["server_name"] == node.server_name
            assert varz["cluster"]["name"] == "hub"
            assert str(node.store_dir) in varz["jetstream"]["config"]["store_dir"]
            assert _monitor(node, "/routez")["num_routes"] >= 2
        meta = _monitor(cluster.nodes[0], "/jsz")["meta_cluster"]
        assert meta["cluster_size"] == 3
        assert meta["leader"] in {n.server_name for n in cluster.nodes}

        leader, messages = asyncio.run(_r3_stream(cluster.urls, 3))
        assert messages == 3
        assert leader is not None
        stopped = cluster.node(leader)
        stopped.stop()
        assert not stopped.is_running
        new_leader, messages = asyncio.run(_r3_stream(cluster.urls, 2))
        assert (messages, new_leader != leader) == (5, True)

        stopped.start()
        cluster.wait_healthy()
        deadline = time.monotonic() + 10
        while _monitor(stopped, "/jsz")["messages"] != 5:  # caught up with what it missed
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert not any(node.is_running for node in cluster.nodes)


def test_nats_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        with pytest.raises(DevServerError, match="already in use"):
            NatsServer(tmp_path / "nats", port=busy).start()


async def _query(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_postgres_keeps_data_across_restart_and_crash(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    server = PostgresServer(data, fsync=False)
    with server:
        assert server.port not in MACHINE_PORTS
        assert server.dsn == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        assert asyncio.run(_query(server.dsn, "SELECT 1 AS one"))[0]["one"] == 1
        asyncio.run(
            _execute(server.dsn, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('a')")
        )

        server.restart()
        rows = asyncio.run(_query(server.dsn, "SELECT v FROM kept"))
        assert [r["v"] for r in rows] == ["a"]

        asyncio.run(_execute(server.dsn, "INSERT INTO kept VALUES ('b')"))
        server.kill()
        assert (data / "postmaster.pid").exists()  # stale, as after a crash
        server.start()
        rows = asyncio.run(_query(server.dsn, "SELECT v FROM kept ORDER BY v"))
        assert [r["v"] for r in rows] == ["a", "b"]

    # A fresh object on the same data dir (e.g. the next `carenet up`) skips initdb.
    with PostgresServer(data, fsync=False) as again:
        assert asyncio.run(_query(again.dsn, "SELECT count(*) AS n FROM kept"))[0]["n"] == 2


def test_postgres_start_failure_shows_the_log(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg", fsync=False, settings={"shared_buffers": "bogus"})
    with pytest.raises(DevServerError, match="shared_buffers"):
        server.start()
    assert not server.is_running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_servers_die_with_their_parent(tmp_path: Path) -> None:
    script = (
        "import sys, threading, time\n"
        "from pathlib import Path\n"
        "from shared.local.devservers import NatsServer, PostgresServer\n"
        "root = Path(sys.argv[1])\n"
        "n = NatsServer(root / 'nats')\n"
        "p = PostgresServer(root / 'pg', fsync=False)\n"
        # From a worker thread that then ends: the servers must outlive it, but not the process.
        "t = threading.Thread(target=lambda: (n.start(), p.start()))\n"
        "t.start(); t.join()\n"
        "print(n.pid, p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        time.sleep(0.2)
        assert all(_alive(pid) for pid in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)
