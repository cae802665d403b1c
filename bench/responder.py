"""The commands baseline: a raw nats-py responder, run as its own process like a service.

``python -m bench.responder NATS_URL DSN`` answers ``bench.<site>.<service>.<name>`` in the
queue group ``baseline``, one task per request: at most ``--concurrency`` at once (default 16,
the bound the kit's request handling defaults to, on as many connections; the subscription
waits beyond that). Each request's ``Authorization: Bearer`` token is verified as the kit does
(PyJWT: the key by ``kid`` from the JWKS given with ``--jwks``, signature, ``exp``, ``iat``,
audience, ``sub``, roles and sites), and its ``sub`` is the actor; the body is decoded,
validated with the contract's pydantic model, and applied in one transaction on asyncpg: the
command-log row (with its reply; a repeated
``command_id`` gets the stored reply), the entity's rows, the outbox row(s) of the event(s)
built with the contract's models. No relay publishes that outbox: the baseline is the request
path only. ``bench.ping`` answers when it is subscribed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import jwt
import nats
from nats.aio.msg import Msg

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.envelope import EventEnvelope
from shared.kit.contracts.groups import AttendanceRecorded, EnrollmentCreated, SessionHeld
from shared.kit.contracts.intake import PersonRegistered
from shared.kit.contracts.messages import EventData

ZONE: ZoneInfo = load_organisation(DEMO_ORGANISATION).zone

OUTBOX = """INSERT INTO {schema}.outbox (event_id, subject, body)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])"""


def _envelope(service: str, site: str, data: EventData, subject: UUID, cause: str) -> EventEnvelope:
    spec = next(s for s in CATALOGUE.events.values() if s.model is type(data))
    return EventEnvelope(
        type=spec.event_type,
        version=spec.version,
        source=f"{service}/{site}",
        site=site,
        time=datetime.now(UTC),
        subject=str(subject),
        causation_id=cause,
        data=data.model_dump(mode="json"),
    )


async def _claim(
    conn: asyncpg.Connection, schema: str, cmd: Any, name: str, site: str, reply: dict[str, Any]
) -> bytes | None:
    """Log the command with its reply; the stored reply if the id was used before."""
    claimed = await conn.fetchval(
        f"""INSERT INTO {schema}.command_log (command_id, name, site, actor, reply)
            VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING RETURNING true""",
        cmd.command_id,
        name,
        site,
        cmd.actor,
        json.dumps(reply),
    )
    if claimed:
        return None
    stored = await conn.fetchval(
        f"SELECT reply FROM {schema}.command_log WHERE command_id = $1", cmd.command_id
    )
    return str(stored).encode()


async def _outbox(conn: asyncpg.Connection, schema: str, events: list[EventEnvelope]) -> None:
    await conn.execute(
        OUTBOX.format(schema=schema),
        [e.id for e in events],
        [e.nats_subject for e in events],
        [e.model_dump_json() for e in events],
    )


async def register_person(conn: asyncpg.Connection, site: str, cmd: Any) -> bytes:
    today = datetime.now(ZONE).date()
    person_id = uuid4()
    reply = {"ok": True, "result": {"person_id": str(person_id), "possible_duplicates": []}}
    event = _envelope(
        "intake",
        site,
        PersonRegistered(
            person_id=person_id, roles=cmd.roles, age_band="unknown", registered_on=today
        ),
        person_id,
        str(cmd.command_id),
    )
    async with conn.transaction():
        if (
            stored := await _claim(conn, "intake", cmd, "register_person", site, reply)
        ) is not None:
            return stored
        await conn.execute(
            """INSERT INTO intake.people (person_id, site, preferred_name, legal_name, sex,
                   birth_year, phone, phone_digits, language, address, roles, registered_on,
                   registered_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
            person_id,
            site,
            cmd.preferred_name,
            cmd.legal_name,
            cmd.sex,
            cmd.birth_year,
            cmd.phone,
            None,
            cmd.language,
            cmd.address,
            list(cmd.roles),
            today,
            cmd.actor,
        )
        await _outbox(conn, "intake", [event])
    return json.dumps(reply).encode()


async def enrol(conn: asyncpg.Connection, site: str, cmd: Any) -> bytes:
    today = datetime.now(ZONE).date()
    enrollment_id = uuid4()
    reply = {"ok": True, "result": {"enrollment_id": str(enrollment_id), "status": "enrolled"}}
    async with conn.transaction():
        if (stored := await _claim(conn, "groups", cmd, "enrol", site, reply)) is not None:
            return stored
        # The programme's row lock is what keeps its capacity right under concurrent enrolments.
        programme_type = await conn.fetchval(
            "SELECT type FROM groups.programmes WHERE programme_id = $1 FOR UPDATE",
            cmd.programme_id,
        )
        await conn.execute(
            """INSERT INTO groups.enrolments (enrollment_id, programme_id, person_id, status,
                                               enrolled_on, enrolled_by)
               VALUES ($1, $2, $3, 'enrolled', $4, $5)""",
            enrollment_id,
            cmd.programme_id,
            cmd.person_id,
            today,
            cmd.actor,
        )
        event = _envelope(
            "groups",
            site,
            EnrollmentCreated(
                enrollment_id=enrollment_id,
                programme_id=cmd.programme_id,
                programme_type=programme_type,
                person_id=cmd.person_id,
                status="enrolled",
                enrolled_on=today,
            ),
            enrollment_id,
            str(cmd.command_id),
        )
        await _outbox(conn, "groups", [event])
    return json.dumps(reply).encode()


async def record_attendance(conn: asyncpg.Connection, site: str, cmd: Any) -> bytes:
    async with conn.transaction():
        # The session's row lock orders revisions; the reply needs the revision, so the command
        # log row comes after it here.
        session = await conn.fetchrow(
            """SELECT s.programme_id, p.type, p.tags, s.starts_at, s.attendance_revision
               FROM groups.sessions s JOIN groups.programmes p USING (programme_id)
               WHERE s.session_id = $1 FOR UPDATE OF s""",
            cmd.session_id,
        )
        day: date = session["starts_at"].date()
        revision = session["attendance_revision"] + 1
        reply = {
            "ok": True,
            "result": {
                "session_id": str(cmd.session_id),
                "revision": revision,
                "held_on": day.isoformat(),
            },
        }
        if (
            stored := await _claim(conn, "groups", cmd, "record_attendance", site, reply)
        ) is not None:
            return stored
        people = [*cmd.present, *cmd.absent]
        await conn.execute(
            """INSERT INTO groups.attendance (session_id, person_id, present)
               SELECT $1, * FROM unnest($2::uuid[], $3::bool[])""",
            cmd.session_id,
            people,
            [True] * len(cmd.present) + [False] * len(cmd.absent),
        )
        await conn.execute(
            """UPDATE groups.sessions SET status = 'held', walk_ins = $2, attendance_revision = $3
               WHERE session_id = $1""",
            cmd.session_id,
            cmd.walk_ins,
            revision,
        )
        programme_type = session["type"]
        events = [
            _envelope(
                "groups",
                site,
                SessionHeld(
                    session_id=cmd.session_id,
                    programme_id=session["programme_id"],
                    programme_type=programme_type,
                    date=day,
                ),
                cmd.session_id,
                str(cmd.command_id),
            ),
            _envelope(
                "groups",
                site,
                AttendanceRecorded(
                    session_id=cmd.session_id,
                    programme_id=session["programme_id"],
                    programme_type=programme_type,
                    tags=list(session["tags"]),
                    date=day,
                    present=cmd.present,
                    absent=cmd.absent,
                    walk_ins=cmd.walk_ins,
                    revision=revision,
                    replaces=revision > 1,
                ),
                cmd.session_id,
                str(cmd.command_id),
            ),
        ]
        await _outbox(conn, "groups", events)
    return json.dumps(reply).encode()


class Refused(Exception):
    """No token the responder trusts."""


def keys(jwks_path: str) -> dict[str, jwt.PyJWK]:
    with open(jwks_path) as jwks:
        found = [jwt.PyJWK(entry) for entry in json.load(jwks)["keys"]]
    return {key.key_id: key for key in found if key.key_id}


def caller(trusted: dict[str, jwt.PyJWK], msg: Msg) -> str:
    """The verified sub of the request's token: the same checks the kit makes."""
    scheme, _, token = (msg.headers or {}).get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused("no token")
    try:
        header = jwt.get_unverified_header(token)
        key = trusted[header["kid"]]
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=[header["alg"]] if header["alg"] in ("EdDSA", "ES256", "RS256") else [],
            audience="carenet",
            options={"require": ["sub", "iss", "aud", "exp", "iat"]},
        )
    except (jwt.InvalidTokenError, KeyError) as exc:
        raise Refused(repr(exc)) from exc
    if not isinstance(claims.get("roles"), list) or not isinstance(claims.get("sites"), list):
        raise Refused("roles and sites must be lists")
    return str(claims["sub"])


HANDLERS = {
    "register_person": register_person,
    "enrol": enrol,
    "record_attendance": record_attendance,
}


async def answer(pool: asyncpg.Pool, trusted: dict[str, jwt.PyJWK], msg: Msg) -> None:
    try:
        _prefix, site, service, name = msg.subject.split(".", 3)
        model = CATALOGUE.commands[(service, name)].model
        actor = caller(trusted, msg)
        cmd = model.model_validate({**json.loads(msg.data), "actor": actor})
        async with pool.acquire() as conn:
            body = await HANDLERS[name](conn, site, cmd)
    except Refused as exc:
        refusal = {"ok": False, "error": {"code": "unauthenticated", "message": str(exc)}}
        body = json.dumps(refusal).encode()
    except Exception as exc:  # noqa: BLE001 - every request gets a reply
        failure = {"ok": False, "error": {"code": "internal", "message": repr(exc)}}
        body = json.dumps(failure).encode()
    await msg.respond(body)


async def serve(nats_url: str, dsn: str, concurrency: int, jwks: str) -> None:
    trusted = keys(jwks)
    # A connection for each request handled at once, as the kit gives its pool (at most 64).
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=min(concurrency, 64))
    nc = await nats.connect(nats_url)
    room = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def on_request(msg: Msg) -> None:
        await room.acquire()
        task = asyncio.create_task(answer(pool, trusted, msg))
        running.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            running.discard(finished)
            room.release()

        task.add_done_callback(done)

    async def on_ping(msg: Msg) -> None:
        await msg.respond(b"pong")

    await nc.subscribe("bench.*.*.*", queue="baseline", cb=on_request)
    await nc.subscribe("bench.ping", cb=on_ping)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await nc.drain()
    await asyncio.gather(*running, return_exceptions=True)
    await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("nats_url")
    parser.add_argument("dsn")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--jwks", required=True, help="the JWKS whose keys sign the tokens")
    options = parser.parse_args()
    asyncio.run(serve(options.nats_url, options.dsn, options.concurrency, options.jwks))
