"""A real nats-server with authentication on, configured from ``shared.local.nats_users``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared.kit.bus.broker import reply_prefix
from shared.kit.contracts.public import SERVICES
from shared.local.devservers import NatsServer
from shared.local.nats_users import NatsUser, render


@dataclass
class AuthNats:
    """A running server and its users; connections made through it are closed after the test."""

    server: NatsServer
    users: dict[str, NatsUser]
    clients: list[NatsClient] = field(default_factory=list)

    def url(self, user: str) -> str:
        return self.users[user].url(self.server.url)

    async def connect(self, user: str, errors: list[str] | None = None) -> NatsClient:
        """Connect as ``user``; what the server refuses later lands in ``errors`` (a denied
        publish or subscribe reaches only the error callback)."""

        async def on_error(exc: Exception) -> None:
            if errors is not None:
                errors.append(str(exc).lower())

        service, _, sites = user.partition("_")
        # A service's user takes its replies on the instance's own prefix, as the kit does.
        prefix = (
            reply_prefix(service, sites.split("_") if sites else None)
            if service in SERVICES
            else "_INBOX"
        )
        nc = await nats.connect(
            self.url(user),
            error_cb=on_error,
            allow_reconnect=False,
            connect_timeout=3,
            inbox_prefix=prefix,
        )
        self.clients.append(nc)
        return nc

    def violations(self) -> list[str]:
        """The server log's permission violations (it logs every denied publish/subscribe)."""
        text = self.server.log_file.read_text(errors="replace")
        return [line for line in text.splitlines() if "Violation" in line]


def start_auth_nats(directory: Path, users: list[NatsUser], *, extra: str = "") -> AuthNats:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "nats.conf"
    config.write_text(render(users) + extra)
    server = NatsServer(directory / "js", config_file=config).start()
    return AuthNats(server, {user.name: user for user in users})


@pytest.fixture
async def auth_nats(tmp_path: Path) -> AsyncIterator[Callable[..., AuthNats]]:
    """``auth_nats(users)`` starts a server with exactly those users; its connections are
    closed and it is stopped after the test."""
    started: list[AuthNats] = []

    def start(users: list[NatsUser], *, extra: str = "") -> AuthNats:
        running = start_auth_nats(tmp_path / f"nats-{len(started)}", users, extra=extra)
        started.append(running)
        return running

    yield start
    for running in started:
        for nc in running.clients:
            if not nc.is_closed:
                await asyncio.wait_for(nc.close(), timeout=5)
        running.server.stop()
