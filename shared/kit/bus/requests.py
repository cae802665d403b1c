"""Commands and queries over NATS request/reply, with a queue group per service.

What a caller can rely on:

- **Every request a service receives gets exactly one reply of the contract's shape.**
  carenet's own code reads the raw bytes (FastStream does not decode them): a body that is
  not UTF-8, not JSON, not a JSON object, nested deeper than the decoder or the contracts
  allow, is ``validation_error``; so is any request the model refuses (field details, at
  most ``shared.kit.contracts.replies.MAX_DETAILS`` of them). A control character or an
  over-long string is refused by the model (see ``shared.kit.contracts.messages``) before any
  handler or database sees it.
- **A command is applied at most once per ``command_id``.** The id is claimed in the command's
  own transaction; a repeat (also one that races the first) returns the first ``ok`` reply and
  writes nothing. A command that failed left nothing behind, so its repeat runs again.
- **Database failures are answered by what they mean** (``shared.kit.db.errors.classify``): an
  outage, including a commit interrupted by a PostgreSQL shutdown, is ``unavailable`` (the
  command may have committed; its repeat returns the first reply); a collision (deadlock,
  serialization failure, lock or statement timeout) runs the whole transaction again, up to
  ``COLLISION_ATTEMPTS`` times, then answers ``unavailable``; anything else, a handler's own
  ``TimeoutError`` or ``OSError`` included while the database answers, is ``internal`` with a
  reference that is also in the log.
- **Up to ``concurrency`` requests of an instance are handled at once**
  (``CARENET_MAX_CONCURRENT_REQUESTS``); more wait, queued in the NATS client, and a stop
  answers every request the instance took: those in hand finish within the graceful timeout,
  or are cancelled (rolled back) and answered ``unavailable``, like those still queued.
- **A reply NATS could not carry** (over the server's ``max_payload``) is replaced by an
  ``internal`` error saying so, so the caller is not left waiting.
- **``request()`` always returns a ``Reply``** for what the bus can do to a request: nobody
  answering for ``no_responders_patience`` seconds (its sleeps add up to no more than that) or
  no answer within ``timeout`` is ``unavailable``, naming the ``command_id`` to send again; a
  body larger than the server accepts is ``validation_error``; a closed connection is
  ``unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError, NoRespondersError
from pydantic import BaseModel, ValidationError

from shared.kit.config import DEFAULT_MAX_CONCURRENT_REQUESTS
from shared.kit.contracts.catalogue import CATALOGUE, RequestSpec
from shared.kit.contracts.envelope import command_subject, query_subject
from shared.kit.contracts.messages import Command
from shared.kit.contracts.replies import CommandError, ErrorDetail, Reply, validation_details
from shared.kit.db.errors import Failure, classify, classify_fast
from shared.kit.db.uow import Cause, CommandReply, UnitOfWork
from shared.kit.identity.access import Grant, Identity, granted
from shared.kit.identity.tokens import TokenVerifier, Unauthenticated
from shared.kit.observability import logging as carenet_logging
from shared.kit.observability.metrics import HANDLER_SECONDS, MESSAGES, REQUESTS_REFUSED

__all__ = [
    "COLLISION_ATTEMPTS",
    "CommandHandler",
    "QueryContext",
    "QueryHandler",
    "RequestEndpoints",
    "request",
]

log = logging.getLogger("carenet.requests")

CORRELATION_HEADER = "Carenet-Correlation-Id"

Result = dict[str, Any] | BaseModel | None
Headers = Mapping[str, str]
AUTHORIZATION = "Authorization"
"""The request header carrying the caller's ``Bearer`` token."""
CommandHandler = Callable[[Any, UnitOfWork], Awaitable[Result]]


@dataclass
class QueryContext:
    """What a query handler may use: a connection (read only by convention) and the site."""

    conn: asyncpg.Connection
    site: str
    zone: ZoneInfo
    nats: NatsClient
    identity: Identity | None = None
    """Who asks, as their verified token says."""
    sites: frozenset[str] = frozenset()
    """The subject's site and every site below it: the records this query may show (a record
    kept elsewhere is ``not_found``, so nobody learns it exists)."""
    granted: frozenset[str] = frozenset()
    """The caller's roles through which the access table lets this query through."""
    token: str | None = None
    """The caller's token, for a query that asks another service on their behalf."""

    def sees(self, site: str | None) -> bool:
        """Whether a record kept for ``site`` is visible to this query."""
        return site in self.sites


QueryHandler = Callable[[Any, QueryContext], Awaitable[Result]]


COLLISION_ATTEMPTS = 4
"""How many times a command or query runs when the database reports a collision."""

_MAYBE_APPLIED = (
    "the command may have been applied: send it again with the same command_id "
    "(a repeat returns the first reply and is applied at most once)"
)


_STOPPING = "the service is stopping before it could answer"


@dataclass
class RequestEndpoints:
    """A service's command and query handlers, served on its sites' subjects.

    Up to ``concurrency`` requests of the instance are handled at once, each in a task of its
    own. When that many are in hand the subscriptions' callbacks wait for a free slot, so what
    arrives meanwhile stays queued in the client (backpressure) instead of piling up as tasks.
    """

    service: str
    schema: str
    pool: asyncpg.Pool
    zone: ZoneInfo
    sites: tuple[str, ...] | None
    dsn: str
    """Where a fresh connection tells an outage from a handler's own error (``classify``)."""
    commands: dict[str, CommandHandler] = field(default_factory=dict)
    queries: dict[str, QueryHandler] = field(default_factory=dict)
    concurrency: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    known_sites: frozenset[str] | None = None
    """The organisation's site codes: a request for any other site is ``not_found``. (An
    instance serving every site is subscribed to ``cmd.*.<service>.*`` and would take it.)"""
    verifier: TokenVerifier | None = None
    """Verifies every request's token; None only for the kit's own tests of the bus."""
    below: Callable[[str], Iterable[str]] = lambda site: (site,)
    """A site and every site under it (the organisation's tree), for the access table."""
    handled: int = field(default=0, init=False)
    _nats: NatsClient | None = field(default=None, init=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False)
    _in_hand: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _subscriptions: list[Subscription] = field(default_factory=list, init=False)
    _stopping: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"{self.service}: concurrency must be at least 1")
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

    @property
    def in_hand(self) -> int:
        """Requests being handled right now."""
        return len(self._in_hand)

    async def start(self, nats: NatsClient) -> None:
        """Subscribe in the service's queue group on ``nats`` (the broker's connection).

        carenet reads the raw message (no FastStream decoding, no dependency injection, no
        worker-thread hop): no body, however broken, fails before a reply is made.
        """
        self._nats = nats
        self._slots = asyncio.Semaphore(self.concurrency)
        for kind in ("cmd", "qry"):
            if not (self.commands if kind == "cmd" else self.queries):
                continue
            for subject in self.subjects(kind):
                self._subscriptions.append(
                    await nats.subscribe(subject, queue=self.service, cb=self._take)
                )

    async def _take(self, msg: Msg) -> None:
        """One subscription's callback: hand ``msg`` to a task once a slot is free."""
        if self._stopping:
            await self._send(msg, self._stopped_reply(msg.subject))
            return
        assert self._slots is not None
        await self._slots.acquire()
        if self._stopping:  # woken by the stop, not by a finished request
            self._slots.release()
            await self._send(msg, self._stopped_reply(msg.subject))
            return
        task = asyncio.create_task(self._answer(msg))
        self._in_hand.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_hand.discard(task)
        assert self._slots is not None
        self._slots.release()

    async def _answer(self, msg: Msg) -> None:
        try:
            reply = await self.handle(msg.subject, msg.data, msg.headers or {})
        except asyncio.CancelledError:
            # Cut short by a stop that ran out of time: the transaction rolls back (or its
            # commit's outcome is unknown), so the caller is told to send it again.
            await self._send(msg, self._stopped_reply(msg.subject))
            raise
        await self._send(msg, reply)

    def _stopped_reply(self, subject: str) -> Reply:
        if subject.startswith("cmd."):
            return Reply.failure("unavailable", f"{_STOPPING}; {_MAYBE_APPLIED}")
        return Reply.failure("unavailable", f"{_STOPPING}; ask again")

    async def _send(self, msg: Msg, reply: Reply) -> None:
        if not msg.reply or self._nats is None:
            return
        try:
            await self._nats.publish(msg.reply, self._sendable(reply, self._nats))
        except Exception as exc:  # noqa: BLE001 - NATS away: the caller's request times out
            log.warning("could not send the reply to %s: %r", msg.subject, exc)

    async def stop(self, timeout: float) -> None:
        """Take no new requests and answer every one already here, within ``timeout`` seconds.

        The server stops sending at once; what it had sent is handled as usual while time
        lasts. Then what is still queued is answered ``unavailable`` at once, and handlers
        still running are cancelled (their transactions roll back) and answer the same.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        subscriptions, self._subscriptions = self._subscriptions, []
        draining = [asyncio.create_task(self._drain(s)) for s in subscriptions]
        if draining:
            await asyncio.wait(draining, timeout=max(deadline - loop.time(), 0))
        self._stopping = True  # from now on a queued request is answered at once
        if self._slots is not None:
            # A callback waiting for a slot gets one, finds the stop and passes the slot on.
            self._slots.release()
        if self._in_hand:
            await asyncio.wait(set(self._in_hand), timeout=max(deadline - loop.time(), 0))
        for task in list(self._in_hand):
            task.cancel()
        if self._in_hand:
            await asyncio.wait(set(self._in_hand), timeout=5)
        if draining:
            await asyncio.wait(draining, timeout=5)
        for task in draining:
            task.cancel()

    async def _drain(self, subscription: Subscription) -> None:
        try:
            await subscription.drain()
        except Exception:  # noqa: BLE001 - NATS away: nothing more can arrive or be answered
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    def _sendable(self, reply: Reply, nats: NatsClient) -> bytes:
        """The reply's bytes, or an ``internal`` error if NATS would refuse to carry them."""
        body = reply.to_json()
        if len(body) <= nats.max_payload:
            return body
        log.error("a reply of %d bytes is over NATS's max_payload; answered internal", len(body))
        return Reply.failure(
            "internal", "the answer is larger than NATS can carry; ask for less"
        ).to_json()

    async def handle(self, subject: str, data: bytes, headers: dict[str, str]) -> Reply:
        """The reply to one request; never raises (but for cancellation)."""
        kind, site, _service, name = subject.split(".", 3)
        correlation = headers.get(CORRELATION_HEADER) or str(uuid4())
        token = carenet_logging.correlation_id.set(correlation)
        started = time.perf_counter()
        label = "command" if kind == "cmd" else "query"
        try:
            reply = await self._run(kind, site, name, data, correlation, headers)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            reply = await self._failure(exc, kind, subject, correlation)
        finally:
            carenet_logging.correlation_id.reset(token)
        self.handled += 1
        outcome = "ok" if reply.ok else reply.error.code if reply.error else "error"
        MESSAGES.labels(self.service, label, name, outcome).inc()
        HANDLER_SECONDS.labels(self.service, label, name).observe(time.perf_counter() - started)
        return reply

    async def _run(
        self, kind: str, site: str, name: str, data: bytes, correlation: str, headers: Headers
    ) -> Reply:
        """Dispatch, running it again after a collision (its transaction was rolled back)."""
        for attempt in range(1, COLLISION_ATTEMPTS + 1):
            try:
                return await self._dispatch(kind, site, name, data, correlation, headers)
            except Exception as exc:
                if attempt == COLLISION_ATTEMPTS or classify_fast(exc) is not Failure.COLLISION:
                    raise
                log.info("%s collided with other work (%s); running it again", name, exc)
                # Jitter, so two transactions that deadlocked do not meet again at once.
                await asyncio.sleep(random.uniform(0.005, 0.03) * attempt)
        raise AssertionError("unreachable")

    async def _failure(self, exc: Exception, kind: str, subject: str, correlation: str) -> Reply:
        failure = await classify(exc, self.dsn)
        if failure is Failure.WORK and isinstance(exc, asyncpg.InternalClientError):
            # asyncpg's protocol state broke, seen when PostgreSQL stops mid-commit and is
            # back before the probe: the commit's outcome is unknown, and the same
            # command_id sent again answers it, so say unavailable (the log keeps the trace).
            log.error("database connection broke handling %s", subject, exc_info=exc)
            failure = Failure.OUTAGE
        applied = f"; {_MAYBE_APPLIED}" if kind == "cmd" else "; ask again"
        if failure is Failure.OUTAGE:
            log.warning("request failed, database unavailable: %r", exc)
            return Reply.failure("unavailable", f"the service cannot reach its database{applied}")
        if failure is Failure.COLLISION:
            log.warning("request kept colliding with other work: %r", exc)
            return Reply.failure(
                "unavailable",
                f"the work collided with other work {COLLISION_ATTEMPTS} times{applied}",
            )
        log.error("unexpected error handling %s", subject, exc_info=exc)
        return Reply.failure(
            "internal", f"unexpected error; reference {correlation} in the service log"
        )

    def _authenticate(self, headers: Headers) -> Identity | Reply | None:
        """Who asks, or ``unauthenticated`` when no token carenet trusts comes with it (None
        only for the kit's own bus tests, which run without a verifier)."""
        if self.verifier is None:
            return None
        try:
            return self.verifier.verify(headers.get(AUTHORIZATION))
        except Unauthenticated as exc:
            REQUESTS_REFUSED.labels(self.service, exc.reason).inc()
            return Reply.failure("unauthenticated", exc.message)

    def _forbidden(self, identity: Identity, spec: RequestSpec, site: str) -> Reply | None:
        """``forbidden`` unless one of the caller's roles reaches ``site`` for this request."""
        if granted(identity, spec.access, site, self.below):
            return None
        REQUESTS_REFUSED.labels(self.service, "forbidden").inc()
        return Reply.failure("forbidden", f"{identity.sub} may not send {spec.name} for {site}")

    def _access(
        self, identity: Identity | None, spec: RequestSpec, site: str
    ) -> tuple[frozenset[str], frozenset[str], Callable[[str], bool]]:
        """The sites this request's records may be kept at, the roles it was granted through,
        and whether the caller's token reaches a site for it (a person kept elsewhere)."""
        sites = frozenset(self.below(site))
        if identity is None:  # the kit's own bus tests: no access table
            return sites, frozenset(), lambda _site: True
        roles = granted(identity, spec.access, site, self.below)
        return sites, roles, lambda other: bool(granted(identity, spec.access, other, self.below))

    async def _dispatch(
        self, kind: str, site: str, name: str, data: bytes, correlation: str, headers: Headers
    ) -> Reply:
        table = CATALOGUE.commands if kind == "cmd" else CATALOGUE.queries
        spec = table.get((self.service, name))
        handler = (self.commands if kind == "cmd" else self.queries).get(name)
        if spec is None or handler is None:
            what = "command" if kind == "cmd" else "query"
            return Reply.failure("not_found", f"{self.service} has no {what} {name!r}")
        identity = self._authenticate(headers)
        if isinstance(identity, Reply):
            return identity
        if self.known_sites is not None and site not in self.known_sites:
            return CommandError.not_found("site", "site").reply()
        if identity is not None and (refusal := self._forbidden(identity, spec, site)):
            return refusal
        payload = _decode(data)
        if isinstance(payload, Reply):
            return payload
        if identity is not None and payload.get("actor") is None:
            payload["actor"] = identity.sub  # the caller is the actor
        try:
            request = spec.model.model_validate(payload)
        except ValidationError as exc:
            return Reply.failure(
                "validation_error", f"invalid {name} request", validation_details(exc)
            )
        except RecursionError:
            return Reply.failure("validation_error", "the body is nested too deeply")
        if identity is not None and request.actor != identity.sub:
            return CommandError.not_allowed(
                "actor must be the caller (the token's sub), or left out",
                actor=f"not {identity.sub}",
            ).reply()
        sites, roles, reaches = self._access(identity, spec, site)
        token = headers.get(AUTHORIZATION, "").partition(" ")[2].strip() or None
        if kind == "qry":
            async with self.pool.acquire() as conn:
                assert self._nats is not None
                context = QueryContext(
                    conn, site, self.zone, self._nats, identity, sites, roles, token
                )
                try:
                    return Reply.success(await handler(request, context))  # type: ignore[arg-type]
                except CommandError as exc:
                    return exc.reply()
        assert isinstance(request, Command)
        grant = Grant(identity, sites, roles, reaches)
        return await self._command(site, name, request, handler, correlation, grant, token)  # type: ignore[arg-type]

    async def _command(
        self,
        site: str,
        name: str,
        command: Command,
        handler: CommandHandler,
        correlation: str,
        grant: Grant,
        token: str | None = None,
    ) -> Reply:
        cause = Cause(correlation_id=correlation, causation_id=str(command.command_id))
        async with UnitOfWork(
            self.pool,
            self.service,
            self.schema,
            site,
            self.zone,
            cause,
            grant.identity,
            grant,
            token,
        ) as uow:
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
                return await self._first_reply(uow.conn, command, name)
            try:
                result = await handler(command, uow)
            except CommandError as exc:
                return exc.reply()
            reply = Reply.success(result)
            stored = reply.model_dump(mode="json", exclude_none=True)
            await uow.commit(reply=CommandReply(command.command_id, stored))
            follow_ups = list(uow.then)
        return await self._followed(reply, follow_ups, name)

    async def _followed(
        self,
        reply: Reply,
        follow_ups: list[Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]],
        name: str,
    ) -> Reply:
        """The committed reply, as the command's follow-ups (``UnitOfWork.then``) amend it; the
        committed one if a follow-up fails (the work is kept either way)."""
        if not follow_ups:
            return reply
        result = dict(reply.result or {})
        try:
            for follow_up in follow_ups:
                result = await follow_up(result)
        except Exception:
            log.exception("a follow-up of %s failed; answering the committed reply", name)
            return reply
        return Reply.success(result)

    async def _first_reply(self, conn: asyncpg.Connection, command: Command, name: str) -> Reply:
        command_id = command.command_id
        row = await conn.fetchrow(
            "SELECT name, actor, reply FROM command_log WHERE command_id = $1", command_id
        )
        assert row is not None
        if self.verifier is not None and row["actor"] != command.actor:
            # Someone else's command_id: its reply is theirs.
            return CommandError.conflict(
                f"command_id {command_id} was already used by someone else",
                command_id="already used",
            ).reply()
        if row["name"] != name:
            return CommandError(
                "conflict",
                f"command_id {command_id} was already used for {row['name']}",
                command_id="already used for another command",
            ).reply()
        return Reply.model_validate(row["reply"])


def _decode(data: bytes) -> dict[str, Any] | Reply:
    """The request body as a JSON object, or the ``validation_error`` saying why it is not."""
    try:
        text = data.decode("utf-8") if data else "{}"
    except UnicodeDecodeError:
        return Reply.failure("validation_error", "the body is not UTF-8 text")
    try:
        payload = json.loads(text)
    except RecursionError:
        return Reply.failure("validation_error", "the body is nested too deeply")
    except ValueError:
        return Reply.failure("validation_error", "the body is not valid JSON")
    if not isinstance(payload, dict):
        return Reply.failure("validation_error", "the body must be a JSON object")
    return payload


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
    token: str | None = None,
) -> Reply:
    """Send a command (``kind="cmd"``) or query (``"qry"``) and return its reply.

    Never raises for what the bus does to a request (see the module docstring): while no
    instance of ``service`` is subscribed it asks again, sleeping no more than
    ``no_responders_patience`` seconds in all, then answers ``unavailable``; an answer later
    than ``timeout`` seconds is ``unavailable`` too. For a command both name its
    ``command_id`` (message and ``details``): sending the same command again with it is safe.
    ``bytes`` are sent as they are (for tools that forward a body they did not build).
    ``token`` is the caller's JWT, sent as ``Authorization: Bearer``.
    """
    subject = (command_subject if kind == "cmd" else query_subject)(site, service, name)
    if isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, BaseModel):
        body = payload.model_dump_json().encode()
    else:
        body = json.dumps(payload, default=str).encode()
    command_id = _command_id(payload) if kind == "cmd" else None
    headers = {CORRELATION_HEADER: correlation_id or str(uuid4())}
    if token:
        headers[AUTHORIZATION] = f"Bearer {token}"
    loop = asyncio.get_running_loop()
    # A service that is (re)starting briefly has no subscriber; asking again is safe because
    # a request nobody received did nothing.
    deadline = loop.time() + no_responders_patience
    pause = 0.05
    while True:
        try:
            response = await nats.request(subject, body, timeout=timeout, headers=headers)
        except NoRespondersError:
            left = deadline - loop.time()
            if left <= 0:
                return _unavailable(
                    f"no {service} service answered for site {site} within "
                    f"{no_responders_patience:g} s",
                    "nothing was applied: send it again with the same command_id",
                    command_id,
                )
            await asyncio.sleep(min(pause, left))
            pause *= 2
            continue
        except TimeoutError:  # nats' own TimeoutError is one too
            return _unavailable(
                f"no answer from {service} within {timeout:g} s for site {site}",
                "it may or may not have been applied: send it again with the same command_id",
                command_id,
            )
        except MaxPayloadError:
            return Reply.failure(
                "validation_error", "the request is larger than the NATS server accepts"
            )
        except NatsError as exc:
            return _unavailable(
                f"the request to {service} could not be sent ({type(exc).__name__})",
                "nothing was applied: send it again with the same command_id",
                command_id,
            )
        try:
            return Reply.model_validate_json(response.data)
        except ValidationError:
            return Reply.failure(
                "internal", f"the answer on {subject} is not a reply of the contract's shape"
            )


def _unavailable(what: str, advice: str, command_id: str | None) -> Reply:
    if command_id is None:
        return Reply.failure("unavailable", f"{what}; try again later")
    return Reply.failure(
        "unavailable",
        f"{what}; {advice} {command_id} (a repeat is applied at most once)",
        [ErrorDetail(field="command_id", message=command_id)],
    )


def _command_id(payload: dict[str, Any] | BaseModel | bytes) -> str | None:
    """The ``command_id`` a payload carries, if it can be read."""
    if isinstance(payload, bytes):
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError):
            return None
    if isinstance(payload, BaseModel):
        found = getattr(payload, "command_id", None)
    elif isinstance(payload, dict):
        found = payload.get("command_id")
    else:
        return None
    return str(found) if found is not None else None
