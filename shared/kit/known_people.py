"""The people a service knows from intake's events: ids and roles, never personal data.

A service that needs them keeps a ``known_people`` table (``person_id uuid PRIMARY KEY,
roles text[]``) in its own schema, subscribes to intake's events with
``known_people.handlers({...its own handlers...})``, and asks ``roles_of`` in its rules.

People are learnt from ``person.registered`` (at the site that registered them) and from
``case.opened`` (which carries the person's roles): a person transferred in from another site
is known at the receiving site by the case opened there, with no ``person.registered``. A
correction of their roles (``person.updated`` with ``roles``) replaces the roles known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg

from shared.kit.bus.consumer import EventHandler
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.intake import CaseOpened, PersonRegistered, PersonUpdated
from shared.kit.db.uow import UnitOfWork


async def remember_person(uow: UnitOfWork, event: EventEnvelope, data: PersonRegistered) -> None:
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
    the inbox applies each once)."""
    if data.roles is None:
        return
    await uow.conn.execute(
        """INSERT INTO known_people (person_id, roles) VALUES ($1, $2)
           ON CONFLICT (person_id) DO UPDATE SET roles = EXCLUDED.roles""",
        data.person_id,
        list(data.roles),
    )


async def remember_case_roles(uow: UnitOfWork, event: EventEnvelope, data: CaseOpened) -> None:
    """A person known by a case: their roles, adding any the service did not know of (a case's
    roles are the person's when it opened, so they never take one away: a correction does)."""
    await uow.conn.execute(
        """INSERT INTO known_people (person_id, roles) VALUES ($1, $2)
           ON CONFLICT (person_id) DO UPDATE
           SET roles = known_people.roles || ARRAY(
               SELECT r FROM unnest(EXCLUDED.roles) AS r WHERE r <> ALL (known_people.roles))""",
        data.person_id,
        list(data.roles),
    )


HANDLERS: dict[str, EventHandler] = {
    "intake.person.registered": remember_person,
    "intake.case.opened": remember_case_roles,
    "intake.person.updated": remember_corrected_roles,
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
    roles = await conn.fetchval("SELECT roles FROM known_people WHERE person_id = $1", person_id)
    return list(roles) if roles is not None else None
