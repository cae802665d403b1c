"""The console's settings, from environment variables, with a one-line error for a bad one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.agency.sites import DEMO_ORGANISATION, Organisation, load_organisation
from shared.kit.config import ConfigError
from shared.kit.db.pool import SCHEMA_NAME

DEFAULT_SCHEMA = "console"


@dataclass(frozen=True)
class ConsoleSettings:
    database_url: str
    schema: str
    nats_url: str
    signing_key: Path
    organisation: Organisation
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    token_ttl_seconds: int = 900
    """Tokens the console issues live this long and are issued again with a third left."""
    session_hours: float = 12.0
    secure_cookies: bool = False
    """Mark cookies ``Secure``: on wherever the console is served over HTTPS."""
    no_responders_patience: float = 2.0
    status_urls: tuple[str, ...] = ()
    """The services' status addresses (``name=http://host:port``) the operations page reads."""
    admin_nats_url: str | None = None
    """A NATS URL allowed to read JetStream (consumer lag, dead letters): the operations page's;
    None: lag as the services last reported it, dead letters not known."""


def schema_from(env: Mapping[str, str]) -> str:
    schema = env.get("CARENET_CONSOLE_SCHEMA") or DEFAULT_SCHEMA
    if not SCHEMA_NAME.match(schema):
        raise ConfigError(f"CARENET_CONSOLE_SCHEMA: {schema!r} is not a schema name")
    return schema


def load_console_settings(env: Mapping[str, str] | None = None) -> ConsoleSettings:
    """DATABASE_URL, NATS_URL (the ``client`` user's), CARENET_SIGNING_KEY (the deployment's
    token signing key), CARENET_CONFIG (the sites file), CARENET_HTTP_HOST/PORT,
    CARENET_CONSOLE_SCHEMA, CARENET_CONSOLE_SECURE_COOKIES, and for the operations page
    CARENET_CONSOLE_STATUS_URLS (``name=url`` separated by commas) and
    CARENET_CONSOLE_ADMIN_NATS_URL."""
    env = os.environ if env is None else env
    missing = [
        name for name in ("DATABASE_URL", "NATS_URL", "CARENET_SIGNING_KEY") if not env.get(name)
    ]
    if missing:
        raise ConfigError(f"the console needs {', '.join(missing)}")
    try:
        organisation = load_organisation(Path(env.get("CARENET_CONFIG") or DEMO_ORGANISATION))
    except ValueError as exc:
        raise ConfigError(f"CARENET_CONFIG: {exc}") from exc
    try:
        port = int(env.get("CARENET_HTTP_PORT") or 8080)
    except ValueError as exc:
        raise ConfigError("CARENET_HTTP_PORT must be a number") from exc
    return ConsoleSettings(
        database_url=env["DATABASE_URL"],
        schema=schema_from(env),
        nats_url=env["NATS_URL"],
        signing_key=Path(env["CARENET_SIGNING_KEY"]),
        organisation=organisation,
        http_host=env.get("CARENET_HTTP_HOST") or "127.0.0.1",
        http_port=port,
        secure_cookies=(env.get("CARENET_CONSOLE_SECURE_COOKIES") or "").lower()
        in ("1", "true", "yes"),
        status_urls=tuple(
            url.strip()
            for url in (env.get("CARENET_CONSOLE_STATUS_URLS") or "").split(",")
            if url.strip()
        ),
        admin_nats_url=env.get("CARENET_CONSOLE_ADMIN_NATS_URL") or None,
    )
