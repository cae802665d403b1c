"""``carenet links`` as its own process against a real hub and site nats-server pair, configured
as ``carenet up --role hub|site`` configures them (``shared.local.roles``): it makes head
office's aggregate streams with one source per site, what a site stores reaches the hub, and it
stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.hub import site_api
from shared.kit.bus.streams import stream_config
from shared.local.devservers import LOOPBACK, NatsServer, free_port
from shared.local.nats_users import ADMIN, NatsUser, new_password, render
from shared.local.roles import Deployment, leaf_users, server_settings
from tests.conftest import REPO, eventually

ORGANISATION = load_organisation(DEMO_ORGANISATION)
AGGREGATES = ("INTAKE", "GROUPS", "VOLUNTEERS")


@dataclass
class HubAndSite:
    hub: NatsServer
    site: NatsServer
    hub_admin: str
    site_admin: str


def _server(directory: Path, settings: str, users: list[NatsUser]) -> NatsServer:
    directory.mkdir(parents=True)
    config = directory / "nats.conf"
    config.write_text(settings + render(users))
    return NatsServer(directory / "js", config_file=config)


@pytest.fixture
def hub_and_likang(tmp_path: Path) -> Iterator[HubAndSite]:
    """Head office's server and likang's, joined by likang's leaf user."""
    admin = NatsUser(ADMIN, new_password(), None)
    leaves = {user.name: user for user in leaf_users(ORGANISATION, {})}
    leaf_port = free_port()
    hub = _server(
        tmp_path / "hub",
        server_settings(Deployment("hub"), leaf_listen=f"{LOOPBACK}:{leaf_port}"),
        [admin, *leaves.values()],
    ).start()
    leaf_url = leaves["leaf_likang"].url(f"nats-leaf://{LOOPBACK}:{leaf_port}")
    site = _server(
        tmp_path / "likang",
        server_settings(Deployment("site", "likang"), hub_url=leaf_url),
        [admin],
    ).start()
    try:
        yield HubAndSite(hub, site, admin.url(hub.url), admin.url(site.url))
    finally:
        site.stop()
        hub.stop()


def _links(nats_url: str, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if k != "CARENET_CONFIG"}
    environment |= {"PYTHONPATH": str(REPO), "NATS_URL": nats_url, **env}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "links", *args],
            env=environment,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _sources(nc: NatsClient, stream: str) -> list[tuple[str, str]]:
    info = await nc.jetstream().stream_info(stream)
    assert info.config.subjects in (None, []), f"{stream} would capture live traffic"
    return sorted(
        (s.name, s.external.api if s.external is not None else "")
        for s in info.config.sources or []
    )


async def test_links_sources_every_site_and_what_a_site_stores_reaches_the_hub(
    hub_and_likang: HubAndSite, tmp_path: Path
) -> None:
    log = tmp_path / "links.out"
    links = _links(hub_and_likang.hub_admin, log)
    at_hub = await nats.connect(hub_and_likang.hub_admin)
    at_site = await nats.connect(hub_and_likang.site_admin)
    try:
        site_js = at_site.jetstream()
        for service in ("intake", "groups", "volunteers"):
            await site_js.add_stream(stream_config(service))

        async def provisioned() -> bool:
            streams = {info.config.name for info in await at_hub.jetstream().streams_info()}
            return set(AGGREGATES) <= streams

        await eventually(provisioned, timeout=30, interval=0.2)
        for stream in AGGREGATES:
            assert await _sources(at_hub, stream) == [
                (stream, site_api("icmhc")),
                (stream, site_api("likang")),
            ]

        event_id = str(uuid.uuid4())
        ack = await site_js.publish(
            "evt.likang.intake.person.registered", b"{}", headers={"Nats-Msg-Id": event_id}
        )
        assert ack.stream == "INTAKE"

        async def arrived() -> bool:
            state = (await at_hub.jetstream().stream_info("INTAKE")).state
            return state.messages == 1

        began = time.monotonic()
        await eventually(arrived, timeout=30, interval=0.1)
        print(f"a message stored at likang reached the hub in {time.monotonic() - began:.2f} s")
        copy = await at_hub.jetstream().get_msg("INTAKE", 1)
        assert copy.subject == "evt.likang.intake.person.registered"
        assert (copy.headers or {}).get("Nats-Msg-Id") == event_id
    finally:
        await at_hub.close()
        await at_site.close()
        links.send_signal(signal.SIGTERM)
        try:
            code = links.wait(15)
        except subprocess.TimeoutExpired:
            links.kill()
            raise
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert "keeping the sources of likang, icmhc armed" in output
    assert '"message": "stopped"' in output


def test_links_refuses_an_organisation_without_sites_of_their_own(tmp_path: Path) -> None:
    alone = tmp_path / "sites.toml"
    alone.write_text('[[sites]]\ncode = "hq"\nname = "Head Office"\nkind = "head_office"\n')
    log = tmp_path / "links.out"
    links = _links("nats://admin:x@127.0.0.1:1", log, CARENET_CONFIG=str(alone))
    assert links.wait(30) == 2
    assert "no site in" in log.read_text() and "own_deployment = true" in log.read_text()


async def test_links_for_a_summaries_only_site_makes_its_one_outgoing_stream(
    nats_url: str, tmp_path: Path
) -> None:
    from tests.sites.test_cross_border import across_the_border

    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NATS_URL": nats_url,
        "CARENET_CONFIG": str(across_the_border(tmp_path)),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shared.cli", "links", "--site", "icmhc"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "SUMMARY_OUT ready" in done.stdout
    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().stream_info("SUMMARY_OUT")
    finally:
        await client.close()
    assert not info.config.subjects
    assert [(s.name, s.filter_subject) for s in info.config.sources or []] == [
        ("REPORTING", "evt.*.reporting.summary.published")
    ]
    # A site that shares its events has nothing to make.
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shared.cli", "links", "--site", "likang"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "nothing to make" in done.stdout, done.stderr
