"""Settings from environment variables only, with a one-line error for a missing or bad one."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from shared.agency.sites import Organisation, load_organisation
from shared.kit.bus.address import NatsAddress, NatsAddressError

DEFAULT_MAX_CONCURRENT_REQUESTS = 16
"""Requests an instance handles at once by default. Each holds a pooled connection for its
transaction and spends most of its time waiting on PostgreSQL round trips, so a few per core
keep the process and the database busy; on 2 cores, 8, 16 and 32 all made the service
CPU-bound (more only lengthen the queues inside PostgreSQL and on contended rows' locks). The
four services' pools (16 + their subscriptions + 2: 78 connections at most) and their relays
stay under PostgreSQL's default of 100; replicas need a lower bound or more connections."""


N = TypeVar("N", int, float)


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line an operator can act on."""


@dataclass(frozen=True)
class Settings:
    service: str
    nats_url: str
    database_url: str
    config_path: Path
    organisation: Organisation
    sites: tuple[str, ...]
    all_sites: bool
    http_host: str
    http_port: int
    log_level: str
    max_deliver: int
    ack_wait_seconds: float
    graceful_timeout_seconds: float
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    """Commands and queries one instance handles at once (its pool has a connection for each)."""
    stream_replicas: int = 1
    """Replicas of a stream this instance creates (3 on a 3-node cluster); an existing stream
    keeps its own (move it with ``nats stream edit``, docs/operations.md)."""
    jwks: tuple[str, ...] = ()
    """JWKS documents (paths or URLs) whose keys sign the tokens this instance trusts."""
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The environment the settings were read from; a service reads its own settings from it
    with ``integer``, ``number`` and ``path``."""

    @property
    def instance(self) -> str:
        return f"{self.service}@{','.join(self.sites) if not self.all_sites else '*'}"

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A service's own whole-number setting, within ``low..high``."""
        return _int(self.env, name, default, low, high)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        """A service's own setting with a fraction allowed, within ``low..high``."""
        return _bounded(self.env, name, default, low, high, float, "a number")

    def path(self, name: str) -> Path | None:
        """A service's own file setting; None when it is not set."""
        raw = (self.env.get(name) or "").strip()
        return Path(raw) if raw else None


def _bounded(
    env: Mapping[str, str],
    name: str,
    default: N,
    low: N,
    high: N,
    parse: Callable[[str], N],
    kind: str,
) -> N:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not {kind}") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}..{high}")
    return value


def stream_replicas(env: Mapping[str, str]) -> int:
    """``CARENET_STREAM_REPLICAS``: replicas of the streams created (3 on a 3-node cluster)."""
    return _int(env, "CARENET_STREAM_REPLICAS", 1, 1, 5)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _bounded(env, name, default, low, high, int, "a whole number")


def _required(env: Mapping[str, str], name: str, example: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (for example {name}={example})")
    return value


def load_settings(service: str, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings of one service instance from the environment."""
    env = os.environ if env is None else env
    nats_url = _required(env, "NATS_URL", "nats://127.0.0.1:4222")
    try:
        NatsAddress.parse(nats_url)
    except NatsAddressError as exc:
        raise ConfigError(f"NATS_URL: {exc}") from exc
    database_url = _required(env, "DATABASE_URL", "postgresql://carenet@127.0.0.1:5432/carenet")
    if not database_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("DATABASE_URL must start with postgresql://")
    config_path = Path(_required(env, "CARENET_CONFIG", "/etc/carenet/organisation.toml"))
    try:
        organisation = load_organisation(config_path)
    except ValueError as exc:
        raise ConfigError(f"CARENET_CONFIG: {exc}") from exc
    sites_spec = env.get("CARENET_SITES", "*")
    try:
        sites = organisation.served(sites_spec)
    except ValueError as exc:
        raise ConfigError(f"CARENET_SITES={sites_spec!r}: {exc}") from exc
    jwks = tuple(
        part.strip()
        for part in _required(env, "CARENET_JWKS", ".carenet/jwks.json").split(",")
        if part.strip()
    )
    for source in jwks:
        if not source.startswith(("https://", "http://")) and not Path(source).is_file():
            raise ConfigError(f"CARENET_JWKS: {source} does not exist")
    log_level = env.get("CARENET_LOG_LEVEL", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"CARENET_LOG_LEVEL={log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    return Settings(
        service=service,
        nats_url=nats_url,
        database_url=database_url,
        config_path=config_path,
        organisation=organisation,
        sites=tuple(sites),
        all_sites=sites_spec.strip() == "*",
        http_host=env.get("CARENET_HTTP_HOST", "0.0.0.0"),
        http_port=_int(env, "CARENET_HTTP_PORT", 8000, 0, 65535),
        log_level=log_level,
        max_deliver=_int(env, "CARENET_MAX_DELIVER", 5, 1, 100),
        ack_wait_seconds=float(_int(env, "CARENET_ACK_WAIT_SECONDS", 10, 1, 3600)),
        graceful_timeout_seconds=float(_int(env, "CARENET_GRACEFUL_TIMEOUT_SECONDS", 10, 1, 300)),
        max_concurrent_requests=_int(
            env, "CARENET_MAX_CONCURRENT_REQUESTS", DEFAULT_MAX_CONCURRENT_REQUESTS, 1, 256
        ),
        stream_replicas=stream_replicas(env),
        jwks=jwks,
        env=dict(env),
    )
