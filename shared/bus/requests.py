"""Commands and queries over NATS request/reply, with a queue group per service.

Every request gets a reply of the contract's shape, whatever happens: a bad payload is a
``validation_error`` with field details, a repeated ``command_id`` returns the first reply
and writes nothing, an outage is ``unavailable`` and anything unexpected is ``internal`` with
a reference that is also in the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
from faststream.nats import NatsBroker, NatsMessage
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from pydantic import BaseModel, ValidationError

from shared.contracts.catalogue import CATALOGUE
from shared.contracts.envelope import command_subject, query_subject
from shared.contracts.messages import Command
from shared.contracts.replies import CommandError, Reply, validation_details
from shared.db.pool import INFRASTRUCTURE_ERRORS
from shared.db.uow import Cause, UnitOfWork
from shared.observability import logging as carenet_logging
from shared.observability.metrics import HANDLER_SECONDS, MESSAGES

log = logging.getLogger("carenet.requests")

CORRELATION_HEADER = "Carenet-Correlation-Id"

Result = dict[str, Any] | BaseModel | None
CommandHandler = Callable[[Any, UnitOfWork], Awaitable[Result]]


@dataclass
class QueryContext:
    """What a query handler may use: a connection (read only by convention) and the site."""

    conn: asyncpg.Connection
    site: str
    zone: ZoneInfo
    nats: NatsClient


QueryHandler = Callable[[Any, QueryContext], Awaitable[Result]]


@dataclass
class RequestEndpoints:
    service: str
    schema: str
    pool: asyncpg.Pool
    zone: ZoneInfo
    sites: tuple[str, ...] | None
    commands: dict[str, CommandHandler] = field(default_factory=dict)
    queries: dict[str, QueryHandler] = field(default_factory=dict)
    handled: int = field(default=0, init=False)
    _broker: NatsBroker | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        for name in self.commands:
            if (self.service, name) not in CATALOGUE.commands:
                raise ValueError(f"{self.service}: command {name} is not in the contract catalogue")
        for name in self.queries:
            if (self.service, name) not in CATALOGUE.queries:
                raise ValueError(f"{self.service}: query {name} is not in the contract catalogue")

    def subjects(self, kind: str) -> list[str]:
        if self.sites is None:
            return [f"{kind}.*.{self.service}.*"]
        return [f"{kind}.{site}.{self.service}.*" for site in self.sites]

    def register(self, broker: NatsBroker) -> None:
        self._broker = broker
        for kind in ("cmd", "qry"):
            if not (self.commands if kind == "cmd" else self.queries):
                continue
            for subject in self.subjects(kind):

                @broker.subscriber(subject, queue=self.service, include_in_schema=False)
                async def on_request(msg: NatsMessage) -> bytes:
                    raw = msg.raw_message
                    return (await self.handle(raw.subject, raw.data, raw.headers or {})).to_json()

    async def handle(self, subject: str, data: bytes, headers: dict[str, str]) -> Reply:
        kind, site, _service, name = subject.split(".", 3)
        correlation = headers.get(CORRELATION_HEADER) or str(uuid4())
        token = carenet_logging.correlation_id.set(correlation)
        started = time.perf_counter()
        label = "command" if kind == "cmd" else "query"
        try:
            reply = await self._dispatch(kind, site, name, data, correlation)
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning("request failed, database unavailable: %s", exc)
            reply = Reply.failure("unavailable", "the service cannot reach its database; retry")
        except Exception:
            log.exception("unexpected error handling %s", subject)
            reply = Reply.failure(
                "internal", f"unexpected error; reference {correlation} in the service log"
            )
        finally:
            carenet_logging.correlation_id.reset(token)
        self.handled += 1
        outcome = "ok" if reply.ok else reply.error.code if reply.error else "error"
        MESSAGES.labels(self.service, label, name, outcome).inc()
        HANDLER_SECONDS.labels(self.service, label, name).observe(time.perf_counter() - started)
        return reply

    async def _dispatch(
        self, kind: str, site: str, name: str, data: bytes, correlation: str
    ) -> Reply:
        table = CATALOGUE.commands if kind == "cmd" else CATALOGUE.queries
        spec = table.get((self.service, name))
        handler = (self.commands if kind == "cmd" else self.queries).get(name)
        if spec is None or handler is None:
            what = "command" if kind == "cmd" else "query"
            return Reply.failure("not_found", f"{self.service} has no {what} {name!r}")
        try:
            payload = json.loads(data or b"{}")
        except ValueError:
            return Reply.failure("validation_error", "the body is not valid JSON")
        if not isinstance(payload, dict):
            return Reply.failure("validation_error", "the body must be a JSON object")
        try:
            request = spec.model.model_validate(payload)
        except ValidationError as exc:
            return Reply.failure(
                "validation_error", f"invalid {name} request", validation_details(exc)
            )
        if kind == "qry":
            async with self.pool.acquire() as conn:
                assert self._broker is not None
                context = QueryContext(conn, site, self.zone, self._broker.connection)
                try:
                    return Reply.success(await handler(request, context))  # type: ignore[arg-type]
                except CommandError as exc:
                    return exc.reply()
        assert isinstance(request, Command)
        return await self._command(site, name, request, handler, correlation)  # type: ignore[arg-type]

    async def _command(
        self,
        site: str,
        name: str,
        command: Command,
        handler: CommandHandler,
        correlation: str,
    ) -> Reply:
        cause = Cause(correlation_id=correlation, causation_id=str(command.command_id))
        async with UnitOfWork(self.pool, self.service, self.schema, site, self.zone, cause) as uow:
            # Claiming the id first makes a concurrent duplicate wait here, then see our reply.
            claimed = await uow.conn.fetchval(
                """INSERT INTO command_log (command_id, name, site, actor, reply)
                   VALUES ($1, $2, $3, $4, 'null'::jsonb)
                   ON CONFLICT DO NOTHING RETURNING true""",
                command.command_id,
                name,
                site,
                command.actor,
            )
            if not claimed:
                return await self._first_reply(uow.conn, command.command_id, name)
            try:
                result = await handler(command, uow)
            except CommandError as exc:
                return exc.reply()
            reply = Reply.success(result)
            await uow.conn.execute(
                "UPDATE command_log SET reply = $2 WHERE command_id = $1",
                command.command_id,
                reply.model_dump(mode="json", exclude_none=True),
            )
            await uow.commit()
            return reply

    async def _first_reply(self, conn: asyncpg.Connection, command_id: UUID, name: str) -> Reply:
        row = await conn.fetchrow(
            "SELECT name, reply FROM command_log WHERE command_id = $1", command_id
        )
        assert row is not None
        if row["name"] != name:
            return CommandError(
                "conflict",
                f"command_id {command_id} was already used for {row['name']}",
                command_id="already used for another command",
            ).reply()
        return Reply.model_validate(row["reply"])


async def request(
    nats: NatsClient,
    kind: str,
    site: str,
    service: str,
    name: str,
    payload: dict[str, Any] | BaseModel | bytes,
    *,
    timeout: float = 10.0,
    correlation_id: str | None = None,
    no_responders_patience: float = 2.0,
) -> Reply:
    """Send a command (``kind="cmd"``) or query (``"qry"``) and return its reply.

    ``bytes`` are sent as they are (for tools that forward a body they did not build).
    """
    subject = (command_subject if kind == "cmd" else query_subject)(site, service, name)
    if isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, BaseModel):
        body = payload.model_dump_json().encode()
    else:
        body = json.dumps(payload, default=str).encode()
    headers = {CORRELATION_HEADER: correlation_id or str(uuid4())}
    # A service that is (re)starting briefly has no subscriber; asking again is safe because
    # commands are idempotent by command_id and queries change nothing.
    pause = 0.05
    while True:
        try:
            response = await nats.request(subject, body, timeout=timeout, headers=headers)
            return Reply.model_validate_json(response.data)
        except NoRespondersError:
            if pause > no_responders_patience:
                raise
            await asyncio.sleep(pause)
            pause *= 2
