from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
from nats.aio.client import Client as NatsClient

from shared.kit.bus.requests import request
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.replies import Reply
from shared.kit.db.migrations import migrate
from shared.kit.db.pool import create_pool
from shared.kit.db.uow import UnitOfWork
from shared.kit.service import ServiceRuntime
from tests.example.services import NOTES, AddNote, NoteAdded, add_note
from tests.identity import HEAD_OFFICE


async def add(nc: NatsClient, text: str = "hello", site: str = "jinsha", **fields: Any) -> Reply:
    payload = {"command_id": str(uuid4()), "text": text, **fields}
    return await request(nc, "cmd", site, "notes", "add_note", payload, token=HEAD_OFFICE)


async def add_directly(
    target: ServiceRuntime | asyncpg.Pool, text: str, site: str = "jinsha"
) -> UUID:
    """Write a note through the service's own handler, as if a command had arrived."""
    pool = target.pool if isinstance(target, ServiceRuntime) else target
    assert pool is not None
    async with UnitOfWork(pool, "notes", "notes", site, ZoneInfo("Asia/Hong_Kong")) as uow:
        result = await add_note(AddNote(command_id=uuid4(), text=text), uow)
        await uow.commit()
    return UUID(result["note_id"])


async def notes_schema(database_url: str) -> asyncpg.Pool:
    """The notes schema, migrated, without running the service."""
    pool = await create_pool(database_url, "notes", application="test")
    async with pool.acquire() as conn:
        await migrate(conn, "notes", NOTES.migrations)
    return pool


async def counter(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT n FROM counter"))


async def tallied_rows(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM tallied"))


async def stream_messages(nc: NatsClient, stream: str) -> list[Any]:
    js = nc.jetstream()
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        found.append(await js.get_msg(stream, seq))
    return found


def note_event(note_id: UUID | None = None, site: str = "jinsha", **data: Any) -> EventEnvelope:
    note_id = note_id or uuid4()
    payload = NoteAdded(note_id=note_id, length=5, **data).model_dump(mode="json")
    return EventEnvelope(
        type="notes.note.added",
        source=f"notes/{site}",
        site=site,
        subject=str(note_id),
        data=payload,
    )


async def publish_raw(nc: NatsClient, subject: str, body: bytes, msg_id: str | None = None) -> None:
    await nc.jetstream().publish(subject, body, headers={"Nats-Msg-Id": msg_id or str(uuid4())})


def body(envelope: EventEnvelope) -> bytes:
    return json.dumps(envelope.model_dump(mode="json")).encode()
