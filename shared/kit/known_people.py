"""The people a service knows from intake's events: ids and roles, never personal data.

A service that needs them keeps a ``known_people`` table (``person_id uuid PRIMARY KEY,
roles text[]``) in its own schema, subscribes to intake's events with
``known_people.handlers({...its own handlers...})``, and asks ``roles_of`` in its rules.

A service that follows merges also keeps a ``merged_people`` table (``duplicate_id uuid
PRIMARY KEY, into_id uuid NOT NULL``): ``person.merged`` adds to it and gives the kept person
the duplicate's roles, and ``person_of`` resolves an id the service is told of (in an event
that arrived after the merge, or in a command) to the person kept.

People are learnt from ``person.registered`` (at the site that registered them) and from
``case.opened`` (which carries the person's roles): a person transferred in from another site
is known at the receiving site by the case opened there, with no ``person.registered``. A
correction of their roles (``person.updated`` with ``roles``) replaces the roles known.
A person whose personal data intake erased (``person.erased``) is forgotten: such a service
also keeps an ``erased_people`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg

from shared.kit.bus.consumer import EventHandler
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.intake import (
    CaseOpened,
    PersonErased,
    PersonMerged,
    PersonRegistered,
    PersonUpdated,
)
from shared.kit.db.uow import UnitOfWork


async def person_of(conn: asyncpg.Connection, person_id: UUID) -> UUID:
    """The person kept when ``person_id`` is a merged duplicate; else ``person_id``."""
    kept = await conn.fetchval(
        "SELECT into_id FROM merged_people WHERE duplicate_id = $1", person_id
    )
    return kept if kept is not None else person_id


async def people_of(conn: asyncpg.Connection, person_ids: list[UUID]) -> list[UUID]:
    """``person_ids`` each resolved with ``person_of``, in order, each person once."""
    if not person_ids:
        return []
    kept = dict(
        await conn.fetch(
            "SELECT duplicate_id, into_id FROM merged_people WHERE duplicate_id = ANY($1::uuid[])",
            person_ids,
        )
    )
    return list(dict.fromkeys(kept.get(p, p) for p in person_ids))


async def _add_roles(conn: asyncpg.Connection, person_id: UUID, roles: list[str]) -> None:
    await conn.execute(
        """INSERT INTO known_people (person_id, roles) VALUES ($1, $2)
           ON CONFLICT (person_id) DO UPDATE
           SET roles = known_people.roles || ARRAY(
               SELECT r FROM unnest(EXCLUDED.roles) AS r WHERE r <> ALL (known_people.roles))""",
        person_id,
        roles,
    )


async def remember_person(uow: UnitOfWork, event: EventEnvelope, data: PersonRegistered) -> None:
    kept = await person_of(uow.conn, data.person_id)
    if kept != data.person_id:
        await _add_roles(uow.conn, kept, list(data.roles))
        return
    await uow.conn.execute(
        """INSERT INTO known_people (person_id, roles) VALUES ($1, $2)
           ON CONFLICT (person_id) DO UPDATE SET roles = EXCLUDED.roles""",
        data.person_id,
        list(data.roles),
    )


async def remember_corrected_roles(
    uow: UnitOfWork, event: EventEnvelope, data: PersonUpdated
) -> None:
    """Roles corrected in intake replace those known (the events of a site come in order, and
    the inbox applies each once; intake corrects no merged duplicate)."""
    if data.roles is None:
        return
    await uow.conn.execute(
        """INSERT INTO known_people (person_id, roles) VALUES ($1, $2)
           ON CONFLICT (person_id) DO UPDATE SET roles = EXCLUDED.roles""",
        await person_of(uow.conn, data.person_id),
        list(data.roles),
    )


async def remember_case_roles(uow: UnitOfWork, event: EventEnvelope, data: CaseOpened) -> None:
    """A person known by a case: their roles, adding any the service did not know of (a case's
    roles are the person's when it opened, so they never take one away: a correction does)."""
    await _add_roles(uow.conn, await person_of(uow.conn, data.person_id), list(data.roles))


async def remember_merge(uow: UnitOfWork, event: EventEnvelope, data: PersonMerged) -> None:
    """The duplicate now means the person kept (one hop, whichever of two chained merges
    comes first), who has the roles of both."""
    await uow.conn.execute(
        """WITH kept AS (SELECT coalesce((SELECT into_id FROM merged_people
                                          WHERE duplicate_id = $2), $2) AS id),
                moved AS (UPDATE merged_people SET into_id = (SELECT id FROM kept)
                          WHERE into_id = $1)
           INSERT INTO merged_people (duplicate_id, into_id) SELECT $1, id FROM kept
           ON CONFLICT (duplicate_id) DO NOTHING""",
        data.duplicate_id,
        data.into_id,
    )
    await _add_roles(uow.conn, await person_of(uow.conn, data.into_id), list(data.roles))


async def forget_erased(uow: UnitOfWork, event: EventEnvelope, data: PersonErased) -> None:
    """An erased person (and the duplicates merged into them) is no longer known: their roles
    go, and ``erased_people`` (``person_id uuid PRIMARY KEY, erased_on date NOT NULL``) keeps
    the id, so a service refuses them as it refuses anyone intake has not told it of."""
    kept = await person_of(uow.conn, data.person_id)
    await uow.conn.execute(
        """DELETE FROM known_people WHERE person_id = $1
              OR person_id IN (SELECT duplicate_id FROM merged_people WHERE into_id = $1)""",
        kept,
    )
    await uow.conn.execute(
        """INSERT INTO erased_people (person_id, erased_on) VALUES ($1, $2)
           ON CONFLICT (person_id) DO NOTHING""",
        kept,
        data.erased_on,
    )


HANDLERS: dict[str, EventHandler] = {
    "intake.person.registered": remember_person,
    "intake.case.opened": remember_case_roles,
    "intake.person.updated": remember_corrected_roles,
    "intake.person.merged": remember_merge,
    "intake.person.erased": forget_erased,
}


def handlers(own: Mapping[str, EventHandler]) -> dict[str, EventHandler]:
    """A subscription's handlers for intake's events: ``own`` (the service's), each run after
    the kit's for an event the kit also learns people from."""
    merged: dict[str, EventHandler] = dict(HANDLERS)
    for event_type, handler in own.items():
        kit = HANDLERS.get(event_type)
        merged[event_type] = handler if kit is None else _both(kit, handler)
    return merged


def _both(first: EventHandler, then: EventHandler) -> EventHandler:
    async def both(uow: UnitOfWork, event: EventEnvelope, data: Any) -> None:
        await first(uow, event, data)
        await then(uow, event, data)

    return both


async def roles_of(conn: asyncpg.Connection, person_id: UUID) -> list[str] | None:
    """The person's roles, or None when intake has not (yet) told this service of them."""
    roles = await conn.fetchval(
        "SELECT roles FROM known_people WHERE person_id = $1", await person_of(conn, person_id)
    )
    return list(roles) if roles is not None else None
