"""deploy/nats/hub-cluster: the three node configs are valid, and run as they are (only hosts,
ports and the store moved onto this machine) they form one cluster with JetStream domain
``hub``, fsync before every ack, and the deployment's users on every node."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from shared.kit.bus.address import connect_nats
from shared.kit.bus.streams import stream_config
from shared.local.devservers import NatsServer, _free_ports, nats_server_path
from shared.local.nats_users import ADMIN, CLIENT, SERVICES, password_variable
from tests.conftest import eventually

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
NODES = sorted((DEPLOY / "hub-cluster").glob("node*.conf"))
USERS = (*SERVICES, CLIENT, ADMIN)


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    chosen = {user: f"{user}-pw-{n}" for n, user in enumerate(USERS)}
    for user, password in chosen.items():
        monkeypatch.setenv(password_variable(user), password)
    return chosen


def test_nats_server_accepts_every_hub_node_config(passwords: dict[str, str]) -> None:
    assert [path.name for path in NODES] == ["node1.conf", "node2.conf", "node3.conf"]
    for path in NODES:
        result = subprocess.run(
            [str(nats_server_path()), "-c", str(path), "-t"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        text = path.read_text()
        assert "include ../users.conf" in text
        assert re.search(r"^\s*domain: hub$", text, re.M)
        assert re.search(r"^\s*sync_interval: always$", text, re.M)
        assert "leaf nodes" in text and not re.search(r"^\s*leafnodes\s*\{", text, re.M)


def _monitor(node: NatsServer, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", node.monitor_port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture
def hub(tmp_path: Path, passwords: dict[str, str]) -> Iterator[list[NatsServer]]:
    """The three deployed configs on this machine: hosts, ports and stores moved."""
    shutil.copy(DEPLOY / "users.conf", tmp_path / "users.conf")
    (tmp_path / "hub-cluster").mkdir()
    ports = _free_ports(9)
    clients, routes, monitors = ports[:3], ports[3:6], ports[6:]
    nodes = []
    for n, path in enumerate(NODES):
        text = path.read_text()
        for k in range(3):
            text = text.replace(
                f"nats-route://hub-{k + 1}:6222", f"nats-route://127.0.0.1:{routes[k]}"
            )
        text = text.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{routes[n]}")
        # NatsServer passes the store with -sd, which nats-server refuses beside a store_dir.
        text = text.replace("store_dir: /data", "")
        config = tmp_path / "hub-cluster" / path.name
        config.write_text(text)
        nodes.append(
            NatsServer(
                tmp_path / f"data{n + 1}",
                port=clients[n],
                monitor_port=monitors[n],
                config_file=config,
            )
        )
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def test_the_hub_configs_form_one_cluster_that_keeps_its_users_after_a_node_goes(
    hub: list[NatsServer], passwords: dict[str, str]
) -> None:
    async def healthy() -> bool:
        return all(_monitor(node, "/healthz")[0] == 200 for node in hub)

    await eventually(healthy, timeout=20)
    for n, node in enumerate(hub):
        _, varz = _monitor(node, "/varz")
        assert varz["server_name"] == f"hub-{n + 1}"
        assert varz["cluster"]["name"] == "hub"
        assert varz["jetstream"]["config"]["domain"] == "hub"
        assert varz["jetstream"]["config"]["sync_always"] is True
    assert _monitor(hub[0], "/jsz")[1]["meta_cluster"]["cluster_size"] == 3

    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(hub[1].url, allow_reconnect=False, connect_timeout=3)

    # One server named, credentials in its URL: the other two are only known from the cluster's
    # announcements. When the named one goes, the client must log in to one of those.
    first = hub[0]
    url = f"nats://admin:{passwords[ADMIN]}@127.0.0.1:{first.port}"
    nc = await connect_nats(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        js = nc.jetstream(timeout=2)
        await js.add_stream(stream_config("intake", replicas=3))

        async def published(msg_id: str, seq: int) -> bool:
            try:
                ack = await js.publish(
                    "evt.likang.intake.person.registered", b"{}", headers={"Nats-Msg-Id": msg_id}
                )
            except (nats.errors.Error, TimeoutError):
                return False  # no stream leader yet: the same Nats-Msg-Id again
            return ack.seq == seq

        await eventually(lambda: published("a", 1), timeout=30, interval=0.2)
        await asyncio.to_thread(first.stop)
        await eventually(lambda: _connected_elsewhere(nc, first.port), timeout=20)
        await eventually(lambda: published("b", 2), timeout=30, interval=0.2)
    finally:
        await nc.close()


async def _connected_elsewhere(nc: nats.NATS, port: int) -> bool:
    return nc.is_connected and nc.connected_url is not None and nc.connected_url.port != port
