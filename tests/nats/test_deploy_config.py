"""deploy/nats/users.conf (the compose deployment's users) in a real nats-server: the passwords
come from the environment, and the users are held to the same rights as ``carenet up``'s."""

from __future__ import annotations

import shutil
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError

from shared.kit.bus.streams import stream_config
from shared.local.devservers import DevServerError, NatsServer
from shared.local.nats_users import ADMIN, CLIENT, SERVICES, NatsUser, password_variable
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
