"""deploy/nats/ in a real nats-server. users.conf (the compose deployment's users): the passwords
come from the environment, and the users are held to the same rights as ``carenet up``'s.
hub.conf and site.conf (the compose profiles hub and site) with their generated users files:
nats-server accepts them, and a site started from them joins a hub started from them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.errors import NoServersError

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.hub import HUB_REPLIES
from shared.kit.bus.streams import stream_config
from shared.local.devservers import (
    LOOPBACK,
    DevServerError,
    NatsServer,
    free_port,
    nats_server_path,
)
from shared.local.nats_users import ADMIN, CLIENT, SERVICES, NatsUser, password_variable
from shared.local.roles import Deployment, deploy_users, deploy_users_conf
from tests.conftest import eventually
from tests.nats.conftest import AuthNats
from tests.nats.test_denials import SHORT, js_call_denied, publish_denied

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
USERS = (*SERVICES, CLIENT, ADMIN)


def _server(directory: Path) -> NatsServer:
    directory.mkdir()
    shutil.copy(DEPLOY / "users.conf", directory / "users.conf")
    (directory / "nats.conf").write_text("include users.conf\n")
    return NatsServer(directory / "js", config_file=directory / "nats.conf")


@pytest.fixture
async def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    passwords = {user: f"{user}-pw-{n}" for n, user in enumerate(USERS)}
    for user, password in passwords.items():
        monkeypatch.setenv(password_variable(user), password)
    server = _server(tmp_path / "nats").start()
    running = AuthNats(server, {u: NatsUser(u, p, None) for u, p in passwords.items()})
    yield running
    for nc in running.clients:
        await nc.close()
    server.stop()


async def test_the_deployed_users_are_held_to_their_rights(deployed):
    with pytest.raises((nats.errors.Error, NoServersError, OSError)):
        await nats.connect(deployed.server.url, allow_reconnect=False, connect_timeout=3)
    admin = await deployed.connect(ADMIN)
    await admin.jetstream().add_stream(stream_config("groups"))

    errors: list[str] = []
    intake = await deployed.connect("intake", errors)
    assert not await publish_denied(intake, errors, "evt.likang.intake.person.registered")
    assert await publish_denied(intake, errors, "evt.likang.groups.session.scheduled")
    reporting = await deployed.connect("reporting", errors)
    assert await publish_denied(reporting, errors, "evt.likang.intake.person.registered")
    client = await deployed.connect(CLIENT, errors)
    assert await publish_denied(client, errors, "evt.likang.groups.session.scheduled")
    assert await js_call_denied(client.jetstream(timeout=SHORT).delete_stream("GROUPS"))


def test_the_server_will_not_start_without_the_passwords(tmp_path, monkeypatch):
    for user in USERS:
        monkeypatch.delenv(password_variable(user), raising=False)
    server = _server(tmp_path / "nats")
    server.start_timeout = 5
    with pytest.raises(DevServerError, match="CARENET_NATS_"):
        server.start()


# ---------------------------------------------------------------- hub and site (compose profiles)

HUB_USERS = ("reporting", CLIENT, ADMIN, "leaf_likang", "leaf_icmhc")
SITE_USERS = USERS
NATS_SERVER = nats_server_path()


def _role_passwords() -> dict[str, str]:
    return {
        password_variable(user): f"{user}-pw-{n}"
        for n, user in enumerate(dict.fromkeys((*HUB_USERS, *SITE_USERS)))
    }


def _site_folder(directory: Path) -> Path:
    """site.conf beside the likang users file under the name the container mounts it as."""
    directory.mkdir()
    shutil.copy(DEPLOY / "site.conf", directory / "site.conf")
    shutil.copy(DEPLOY / "site-likang-users.conf", directory / "site-users.conf")
    return directory / "site.conf"


def _check(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NATS_SERVER), "-c", str(config), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("CARENET_")} | env,
    )


def test_the_hub_and_site_users_files_are_what_the_code_makes() -> None:
    organisation = load_organisation(DEMO_ORGANISATION)
    expected = {
        "hub-users.conf": deploy_users_conf(Deployment("hub"), organisation),
        "site-likang-users.conf": deploy_users_conf(Deployment("site", "likang"), organisation),
    }
    for name, text in expected.items():
        assert (DEPLOY / name).read_text() == text, (
            f"deploy/nats/{name} is out of date: see the command in its first lines"
        )
    hub_users = [user.name for user in deploy_users(Deployment("hub"), organisation)]
    assert hub_users == list(HUB_USERS)


def test_nats_server_accepts_the_hub_and_site_configs(tmp_path: Path) -> None:
    hub = _check(DEPLOY / "hub.conf", _role_passwords())
    assert hub.returncode == 0, hub.stderr
    site_conf = _site_folder(tmp_path / "site")
    site_env = _role_passwords() | {
        "CARENET_SITE": "likang",
        "CARENET_HUB_LEAF_URL": "nats-leaf://leaf_likang:pw@hub.example.org:7422",
    }
    site = _check(site_conf, site_env)
    assert site.returncode == 0, site.stderr
    for missing in ("CARENET_SITE", "CARENET_HUB_LEAF_URL"):
        refused = _check(site_conf, {k: v for k, v in site_env.items() if k != missing})
        assert refused.returncode != 0 and missing in refused.stderr, refused.stderr


def _deployed(source: Path, target: Path, replacements: dict[str, str]) -> Path:
    """A copy of a committed config for a test server: only what ``replacements`` names
    changes (ports and the store folder, which NatsServer passes as flags), and each must be
    in the committed file exactly once."""
    text = source.read_text()
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{source.name}: expected {old!r} once"
        text = text.replace(old, new)
    target.write_text(text)
    return target


def _monitor(server: NatsServer, path: str) -> dict[str, Any]:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        f"{server.monitor_url}{path}", timeout=5
    ) as reply:
        found: dict[str, Any] = json.load(reply)
    return found


async def test_a_site_started_from_the_deploy_files_joins_a_hub_that_comes_up_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passwords = _role_passwords()
    for variable, password in passwords.items():
        monkeypatch.setenv(variable, password)
    leaf_port = free_port()
    monkeypatch.setenv("CARENET_SITE", "likang")
    monkeypatch.setenv(
        "CARENET_HUB_LEAF_URL",
        f"nats-leaf://leaf_likang:{passwords[password_variable('leaf_likang')]}"
        f"@{LOOPBACK}:{leaf_port}",
    )
    site_conf = _site_folder(tmp_path / "site")
    _deployed(site_conf, site_conf, {"store_dir: /data": ""})
    site = NatsServer(tmp_path / "site" / "js", config_file=site_conf)
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    shutil.copy(DEPLOY / "hub-users.conf", hub_dir / "hub-users.conf")
    hub_conf = _deployed(
        DEPLOY / "hub.conf",
        hub_dir / "hub.conf",
        {"store_dir: /data": "", '"0.0.0.0:7422"': f'"{LOOPBACK}:{leaf_port}"'},
    )
    hub = NatsServer(hub_dir / "js", config_file=hub_conf)
    clients: list[NatsClient] = []
    try:
        site.start()  # the hub is not there yet: the site works on its own
        assert _monitor(site, "/jsz").get("config", {}).get("domain") == "likang"
        admin = f"admin:{passwords[password_variable(ADMIN)]}@"
        at_site = await nats.connect(site.url.replace("//", f"//{admin}"))
        clients.append(at_site)
        await at_site.jetstream().add_stream(stream_config("intake"))

        hub.start()
        assert _monitor(hub, "/jsz").get("config", {}).get("domain") == "hub"
        # The leaf link answers the hub only on the links keeper's prefix (never _INBOX).
        at_hub = await nats.connect(hub.url.replace("//", f"//{admin}"), inbox_prefix=HUB_REPLIES)
        clients.append(at_hub)

        async def linked() -> bool:
            return bool(_monitor(hub, "/leafz").get("leafnodes") == 1)

        began = time.monotonic()
        await eventually(linked, timeout=20, interval=0.1)
        print(f"the leaf link formed {time.monotonic() - began:.2f} s after the hub started")
        # Through the link, as likang's leaf user allows: the site's JetStream by its domain.
        info = await at_hub.jetstream(domain="likang").stream_info("INTAKE")
        assert info.config.name == "INTAKE"
        # The hub's own users are not the site's: likang's intake may not log in at the hub.
        with pytest.raises((nats.errors.Error, NoServersError, OSError)):
            intake = f"intake:{passwords[password_variable('intake')]}@"
            await nats.connect(
                hub.url.replace("//", f"//{intake}"), allow_reconnect=False, connect_timeout=3
            )
    finally:
        for nc in clients:
            await nc.close()
        hub.stop()
        site.stop()
