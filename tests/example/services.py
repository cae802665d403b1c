from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from pydantic import Field

from shared.kit import faults
from shared.kit.bus.consumer import Subscription, Unprocessable
from shared.kit.bus.requests import QueryContext
from shared.kit.contracts import (
    BusinessCommand,
    EventData,
    EventEnvelope,
    Query,
    command,
    event,
    query,
)
from shared.kit.contracts.replies import CommandError
from shared.kit.db.uow import UnitOfWork
from shared.kit.identity import EVERY_ROLE
from shared.kit.service import ServiceDefinition

HERE = Path(__file__).parent


@event("notes.note.added")
class NoteAdded(EventData):
    note_id: UUID
    length: int
    poison: bool = False


@command("notes", "add_note", access=EVERY_ROLE)
class AddNote(BusinessCommand):
    text: str = Field(min_length=1, max_length=200)
    poison: bool = False


@command("notes", "delete_note", access=EVERY_ROLE)
class DeleteNote(BusinessCommand):
    note_id: UUID


@query("notes", "note", access=EVERY_ROLE)
class GetNote(Query):
    note_id: UUID


async def add_note(cmd: AddNote, uow: UnitOfWork) -> dict[str, Any]:
    if cmd.text == "explode":
        raise RuntimeError("an unexpected bug")
    if cmd.text == "taken":
        raise CommandError("conflict", "that text is taken", text="choose another text")
    note_id = uuid4()
    await uow.conn.execute(
        "INSERT INTO notes (note_id, site, text, written_on) VALUES ($1, $2, $3, $4)",
        note_id,
        uow.site,
        cmd.text,
        cmd.on or uow.today,
    )
    uow.record(NoteAdded(note_id=note_id, length=len(cmd.text), poison=cmd.poison), subject=note_id)
    return {"note_id": str(note_id)}


async def delete_note(cmd: DeleteNote, uow: UnitOfWork) -> dict[str, Any]:
    deleted = await uow.conn.fetchval(
        "DELETE FROM notes WHERE note_id = $1 RETURNING note_id", cmd.note_id
    )
    if deleted is None:
        raise CommandError("not_found", "no such note", note_id="unknown")
    return {}


async def get_note(q: GetNote, ctx: QueryContext) -> dict[str, Any]:
    row = await ctx.conn.fetchrow("SELECT text FROM notes WHERE note_id = $1", q.note_id)
    if row is None:
        raise CommandError("not_found", "no such note", note_id="unknown")
    return {"note_id": str(q.note_id), "text": row["text"]}


async def count_note(uow: UnitOfWork, event: EventEnvelope, data: NoteAdded) -> None:
    if data.length == 149:
        faults.crash_point("tally.note_of_149")
    if data.poison:
        raise RuntimeError("this note always fails")
    if data.length > 150:
        raise Unprocessable("notes longer than 150 characters cannot be tallied")
    await uow.conn.execute(
        "INSERT INTO tallied (note_id, site) VALUES ($1, $2)", data.note_id, event.site
    )
    await uow.conn.execute("UPDATE counter SET n = n + 1")


NOTES = ServiceDefinition(
    name="notes",
    migrations=HERE / "migrations_notes",
    commands={"add_note": add_note, "delete_note": delete_note},
    queries={"note": get_note},
)


def tally(batch_size: int = 1, name: str = "tally") -> ServiceDefinition:
    """A consumer of notes' events; ``name`` gives a second service with the same subscription."""
    return ServiceDefinition(
        name=name,
        migrations=HERE / "migrations_tally",
        subscriptions=(
            Subscription(
                name="notes-events",
                source="notes",
                handlers={"notes.note.added": count_note},
                batch_size=batch_size,
            ),
        ),
    )
