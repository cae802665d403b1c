"""Where NATS is: ``NATS_URL`` names one server or several, comma-separated (a cluster).

``nats://svc:pw@n1:4222,nats://n2:4222,nats://n3:4222`` and the same with the credentials on
every server are one address. The credentials are taken out of the URLs and given to the client
as ``user``/``password``: nats-py sends a URL's credentials only to that server, and the
servers a cluster announces (which the client adds to its list and reconnects to) carry none,
so credentials left in the URL would be refused there after a failover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import nats
from nats.aio.client import Client as NatsClient

SCHEMES = ("nats", "tls", "ws", "wss")


class NatsAddressError(ValueError):
    """``NATS_URL`` cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class NatsAddress:
    servers: tuple[str, ...]
    """Each server's URL without credentials."""
    user: str | None = None
    password: str | None = None
    token: str | None = None

    @classmethod
    def parse(cls, url: str) -> NatsAddress:
        servers: list[str] = []
        credentials: set[tuple[str, str | None]] = set()
        for part in url.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                split = urlsplit(part)
                split.port  # noqa: B018 - raises ValueError for a port that is not a number
            except ValueError as exc:
                raise NatsAddressError(f"{_shown(part)} is not a URL") from exc
            if split.scheme not in SCHEMES or not split.hostname:
                raise NatsAddressError(
                    f"{_shown(part)} must look like nats://host:4222 (or tls://, ws://, wss://)"
                )
            if split.username is not None:
                password = None if split.password is None else unquote(split.password)
                credentials.add((unquote(split.username), password))
            host = split.netloc.rpartition("@")[2]
            servers.append(split._replace(netloc=host).geturl())
        if not servers:
            raise NatsAddressError("no server given")
        if len({server.partition("://")[0] in ("ws", "wss") for server in servers}) > 1:
            raise NatsAddressError("mixes websocket and plain servers")
        if len(credentials) > 1:
            raise NatsAddressError("its servers carry different credentials")
        if not credentials:
            return cls(tuple(servers))
        user, password = credentials.pop()
        if password is None:
            return cls(tuple(servers), token=user)
        return cls(tuple(servers), user=user, password=password)

    def connect_options(self) -> dict[str, Any]:
        """``servers`` and the credentials, as ``nats.connect`` and ``NatsBroker`` take them."""
        options: dict[str, Any] = {"servers": list(self.servers)}
        if self.user is not None:
            options |= {"user": self.user, "password": self.password}
        if self.token is not None:
            options["token"] = self.token
        return options

    def shown(self) -> str:
        """The servers, for messages: never the credentials."""
        return ",".join(self.servers)


def _shown(part: str) -> str:
    return repr(part.rpartition("@")[2])


async def connect_nats(url: str, **options: Any) -> NatsClient:
    """``nats.connect`` to the server(s) of ``url`` (see the module docstring)."""
    return await nats.connect(**NatsAddress.parse(url).connect_options(), **options)
