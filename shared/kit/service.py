"""Bootstrap: everything a service needs to run, wired the same way for all four.

A service is described by a ``ServiceDefinition`` (its name, migrations, command and query
handlers, and the event subscriptions it consumes); ``ServiceRuntime`` turns that into a
running instance: pool and migrations, streams, request endpoints, consumers, outbox relay,
and the status server.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
from faststream.nats import NatsBroker

from shared.kit.bus.broker import make_broker, reply_prefix
from shared.kit.bus.consumer import EventConsumer, Subscription
from shared.kit.bus.outbox import OutboxRelay
from shared.kit.bus.requests import CommandHandler, QueryHandler, RequestEndpoints
from shared.kit.bus.streams import dlq_config, ensure_stream, stream_config, wait_for_stream
from shared.kit.config import ConfigError, Settings, load_settings
from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.db import migrations
from shared.kit.db.errors import Failure, classify_fast
from shared.kit.db.pool import connect, create_pool
from shared.kit.identity.tokens import TokenVerifier
from shared.kit.observability.http import StatusServer
from shared.kit.observability.logging import configure_logging
from shared.kit.observability.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING, READY

log = logging.getLogger("carenet.service")


def catalogued(
    service: str, module: ModuleType, *, queries: bool = False, **dependencies: Any
) -> dict[str, Any]:
    """The handlers in ``module`` for every command (or query) the catalogue lists for
    ``service``: a handler is the function named as the request, and gets each keyword-only
    parameter it declares from ``dependencies`` by name. So a new command needs its contract,
    its handler, its SQL and a test, and no line of wiring."""
    listed = CATALOGUE.queries if queries else CATALOGUE.commands
    wired: dict[str, Any] = {}
    problems = []
    for name in sorted(n for s, n in listed if s == service):
        handler = getattr(module, name, None)
        if not callable(handler):
            problems.append(f"{module.__name__} has no handler {name}")
            continue
        wanted = {}
        for parameter in inspect.signature(handler).parameters.values():
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            if parameter.name in dependencies:
                wanted[parameter.name] = dependencies[parameter.name]
            elif parameter.default is inspect.Parameter.empty:
                problems.append(f"{name} needs {parameter.name}, which the wiring does not give")
        wired[name] = partial(handler, **wanted) if wanted else handler
    if problems:
        raise ConfigError(f"{service}: {'; '.join(problems)}")
    return wired


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    migrations: Path | None = None
    commands: dict[str, CommandHandler] = field(default_factory=dict)
    queries: dict[str, QueryHandler] = field(default_factory=dict)
    subscriptions: tuple[Subscription, ...] = ()
    background: tuple[Callable[[ServiceRuntime], Coroutine[Any, Any, None]], ...] = ()
    """Long-running tasks started once the instance is ready (periodic work), cancelled at stop."""

    @property
    def schema(self) -> str:
        return self.name

    def check_against_catalogue(self) -> None:
        """The contract catalogue is the one list of a service's commands and queries: refuse
        wiring that leaves a catalogued request unhandled or handles one the contract lacks."""
        problems = []
        for kinds, wired, catalogued in (
            ("commands", self.commands, CATALOGUE.commands),
            ("queries", self.queries, CATALOGUE.queries),
        ):
            listed = {name for service, name in catalogued if service == self.name}
            if missing := sorted(listed - set(wired)):
                problems.append(f"no handler for the catalogued {kinds} {', '.join(missing)}")
            if extra := sorted(set(wired) - listed):
                problems.append(f"handlers for {kinds} not in the catalogue: {', '.join(extra)}")
        if problems:
            raise ConfigError(f"{self.name}: {'; '.join(problems)}")


class ServiceRuntime:
    """One running instance of a service for the sites in its settings."""

    relay_grace_seconds: float = 5.0
    """How long the outbox relay may be ``retrying`` before the instance says it is not ready:
    one transient failure (a publish timeout, a reconnect) does not flap readiness."""

    def __init__(self, definition: ServiceDefinition, settings: Settings) -> None:
        definition.check_against_catalogue()
        self.definition = definition
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.broker: NatsBroker | None = None
        self.relay: OutboxRelay | None = None
        self.relay_state = "starting"
        self._relay_retrying_since: float | None = None
        self.consumers: list[EventConsumer] = []
        self.consumer_lag: dict[str, tuple[int, int]] = {}
        """(num_pending, num_ack_pending) per durable, as last read by ``_watch_consumers``."""
        self.endpoints: RequestEndpoints | None = None
        self.status = StatusServer(settings.http_host, settings.http_port, self.readiness)
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = False

    @property
    def pool_size(self) -> int:
        """A connection for every request in hand, one for each subscription's batch, and two
        more (readiness probes, a consumer's bookkeeping, periodic work), so none of them
        waits for another's connection."""
        subscriptions = len(self.definition.subscriptions)
        return self.settings.max_concurrent_requests + subscriptions + 2

    @property
    def sites(self) -> tuple[str, ...] | None:
        return None if self.settings.all_sites else self.settings.sites

    async def start(self) -> None:
        await self.status.start()
        log.info(
            "starting %s for %s, status on port %s",
            self.definition.name,
            "every site" if self.sites is None else ", ".join(self.sites),
            self.status.port,
        )
        self.pool = await self._connect_database()
        # A connection of its own: migrations hold a session advisory lock, and pooled
        # connections are returned without a session reset (shared.kit.db.pool).
        conn = await connect(
            self.settings.database_url,
            self.definition.schema,
            application=f"carenet-{self.settings.instance}-migrate",
        )
        try:
            applied = await migrations.migrate(
                conn, self.definition.schema, self.definition.migrations
            )
        finally:
            await conn.close()
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))
        self.broker = make_broker(
            self.settings.nats_url,
            name=f"carenet-{self.settings.instance}",
            graceful_timeout=self.settings.graceful_timeout_seconds,
            inbox_prefix=reply_prefix(
                self.definition.name, None if self.settings.all_sites else self.settings.sites
            ),
        )
        await self._connect_broker(self.broker)
        js = self.broker.connection.jetstream()
        replicas = self.settings.stream_replicas
        await ensure_stream(js, stream_config(self.definition.name, replicas))
        # DLQ belongs to no service: the first one to start creates it, none ever updates it.
        await ensure_stream(js, dlq_config(replicas), update=False)
        verifier = TokenVerifier(self.settings.jwks)
        if verifier.remote:
            self._tasks.append(asyncio.create_task(verifier.keep_fresh(), name="jwks"))
        self.endpoints = endpoints = RequestEndpoints(
            service=self.definition.name,
            schema=self.definition.schema,
            pool=self.pool,
            zone=self.settings.organisation.zone,
            sites=self.sites,
            dsn=self.settings.database_url,
            commands=dict(self.definition.commands),
            queries=dict(self.definition.queries),
            concurrency=self.settings.max_concurrent_requests,
            known_sites=frozenset(self.settings.organisation.codes()),
            verifier=verifier,
            below=self.settings.organisation.with_descendants,
        )
        await endpoints.start(self.broker.connection)
        for subscription in self.definition.subscriptions:
            consumer = EventConsumer(
                subscription=subscription,
                service=self.definition.name,
                schema=self.definition.schema,
                pool=self.pool,
                zone=self.settings.organisation.zone,
                sites=self.sites,
                max_deliver=self.settings.max_deliver,
                ack_wait=self.settings.ack_wait_seconds,
                dsn=self.settings.database_url,
            )
            if subscription.awaits_stream:
                await wait_for_stream(js, consumer.stream)
            self.consumers.append(consumer)
        await self.broker.start()
        for consumer in self.consumers:
            self._tasks.append(
                asyncio.create_task(consumer.run(self.broker.connection), name=consumer.durable)
            )
        # Ready means the server knows our subscriptions, not just that we sent them.
        await self.broker.connection.flush()
        self.relay = OutboxRelay(
            nats=self.broker.connection,
            dsn=self.settings.database_url,
            service=self.definition.name,
            schema=self.definition.schema,
            subjects=None
            if self.sites is None
            else [f"evt.{site}.{self.definition.name}.>" for site in self.sites],
            on_state=self._relay_state,
        )
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self._tasks.append(asyncio.create_task(self._watch_consumers(), name="consumer-lag"))
        for task in self.definition.background:
            name = getattr(task, "__name__", "background")
            self._tasks.append(asyncio.create_task(task(self), name=name))
        self._started = True
        log.info("%s ready", self.definition.name)

    def _relay_state(self, state: str) -> None:
        if state != "retrying":
            self._relay_retrying_since = None
        elif self._relay_retrying_since is None:
            self._relay_retrying_since = asyncio.get_running_loop().time()
        self.relay_state = state

    @property
    def relay_stuck(self) -> bool:
        """Whether the relay has been ``retrying`` for longer than ``relay_grace_seconds``."""
        since = self._relay_retrying_since
        if since is None:
            return False
        return asyncio.get_running_loop().time() - since >= self.relay_grace_seconds

    async def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        # Requests and consumers first, side by side: requests stop arriving and those in hand
        # are answered; consumers stop fetching, let the batch in hand finish (or abandon it
        # once the graceful timeout is up, un-counting the attempt cut short) and nak the rest.
        # Both need the pool and the connection, which close after.
        grace = self.settings.graceful_timeout_seconds
        stopping = [c.stop(grace) for c in self.consumers]
        if self.endpoints is not None:
            stopping.append(self.endpoints.stop(grace))
        if stopping:
            await asyncio.gather(*stopping, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        # A nats-py request in flight while the server is away can hold off cancellation for
        # its whole timeout; everything these tasks do is safe to abandon (unacked messages are
        # redelivered, open transactions roll back), so shutdown does not wait on them long.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=3)
        if self.broker is not None:
            if self.broker.connection.is_connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self.broker.stop(), timeout=self.settings.graceful_timeout_seconds + 5
                    )
            else:
                # Draining needs the server; with it away, close at once (unacked work is
                # redelivered, and the outbox keeps what was not published).
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.broker.connection.close(), timeout=2)
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), timeout=5)
        await self.status.stop()

    async def _connect_database(self) -> asyncpg.Pool:
        backoff = 0.2
        while True:
            try:
                return await create_pool(
                    self.settings.database_url,
                    self.definition.schema,
                    application=f"carenet-{self.settings.instance}",
                    max_size=self.pool_size,
                )
            except Exception as exc:
                if classify_fast(exc) is Failure.WORK:
                    raise  # a wrong DSN or password will not mend itself
                log.warning("waiting for the database: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _connect_broker(self, broker: NatsBroker) -> None:
        backoff = 0.2
        while True:
            try:
                await broker.connect()
                return
            except Exception as exc:  # noqa: BLE001 - nats-py raises several kinds here
                log.warning("waiting for NATS: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _watch_consumers(self) -> None:
        """Every 5 s: consumer lag, and readiness (so ``carenet_ready`` is fresh unprobed)."""
        js = self.broker.connection.jetstream() if self.broker is not None else None
        while True:
            with contextlib.suppress(Exception):
                await self.readiness()
            if js is not None:
                for consumer in self.consumers:
                    try:
                        info = await js.consumer_info(consumer.stream, consumer.durable)
                    except Exception:  # noqa: BLE001 - lag is best effort while NATS is away
                        continue
                    lag = (info.num_pending or 0, info.num_ack_pending or 0)
                    self.consumer_lag[consumer.durable] = lag
                    labels = (self.definition.name, consumer.durable)
                    CONSUMER_PENDING.labels(*labels).set(lag[0])
                    CONSUMER_ACK_PENDING.labels(*labels).set(lag[1])
            await asyncio.sleep(5)

    async def readiness(self) -> dict[str, Any]:
        """What ``/readyz`` answers; also sets ``carenet_ready``.

        Ready when NATS is connected, the database answers, every migration is applied, every
        consumer is healthy and the outbox relay has not been retrying for longer than the
        grace. Parked outbox events are reported (``outbox.parked``) but do not make the
        instance unready: restarting it would not publish them. The sites served, the outbox
        backlog and each consumer's last known lag are there for ``carenet status``.
        """
        checks: dict[str, Any] = {}
        checks["nats"] = bool(self.broker is not None and self.broker.connection.is_connected)
        database = False
        pending: int | None = None
        parked: int | None = None
        backlog: int | None = None
        if self.pool is not None:
            try:
                async with self.pool.acquire(timeout=2) as conn:
                    await conn.fetchval("SELECT 1", timeout=2)
                    pending = await migrations.pending(
                        conn, self.definition.schema, self.definition.migrations
                    )
                    database = True
                    row = await conn.fetchrow(
                        # Each count reads only its partial index, not the kept published rows.
                        """SELECT (SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL)
                                      AS parked,
                                  (SELECT count(*) FROM outbox
                                    WHERE published_at IS NULL AND parked_at IS NULL) AS backlog""",
                        timeout=2,
                    )
                    parked, backlog = row["parked"], row["backlog"]
            except Exception:  # noqa: BLE001 - reported as not ready (parked: unknown)
                pass
        checks["database"] = database
        checks["migrations"] = pending == 0
        checks["consumers"] = self._started and all(c.healthy for c in self.consumers)
        checks["outbox_relay"] = self.relay_state
        ready = not self.relay_stuck and all(
            v is True for k, v in checks.items() if k != "outbox_relay"
        )
        READY.labels(self.definition.name).set(1 if ready else 0)
        return {
            "service": self.definition.name,
            "instance": self.settings.instance,
            "sites": None if self.sites is None else list(self.sites),
            "ready": ready,
            "checks": checks,
            "outbox": {"relay": self.relay_state, "parked": parked, "backlog": backlog},
            "consumers": [
                {
                    "stream": c.stream,
                    "durable": c.durable,
                    "healthy": c.healthy,
                    "leading": c.leading,
                    "pending": self.consumer_lag.get(c.durable, (None, None))[0],
                    "ack_pending": self.consumer_lag.get(c.durable, (None, None))[1],
                }
                for c in self.consumers
            ],
        }


async def serve(definition: ServiceDefinition, settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then stop gracefully."""
    runtime = ServiceRuntime(definition, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(runtime.start())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done() and starting.exception() is not None:
        await runtime.stop()
        raise starting.exception()  # type: ignore[misc]
    if not stop.is_set():
        await stop.wait()
    starting.cancel()
    log.info("stopping %s", definition.name)
    await runtime.stop()


def main(name: str, build: Callable[[Settings], ServiceDefinition]) -> None:
    """Entry point of ``python -m services.<name>``: settings from the environment only."""
    try:
        settings = load_settings(name)
        definition = build(settings)
        definition.check_against_catalogue()
    except (ConfigError, ValueError) as exc:
        print(f"carenet {name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    configure_logging(name, settings.log_level)
    asyncio.run(serve(definition, settings))
