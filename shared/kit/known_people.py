"""The people a service knows from intake's events: ids and roles, never personal data.

A service that needs them keeps a ``known_people`` table (``person_id uuid PRIMARY KEY,
roles text[]``) in its own schema, merges ``HANDLERS`` into its subscription to intake's
events, and asks ``roles_of`` in its rules.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.intake import PersonRegistered
from shared.kit.db.uow import UnitOfWork


async def remember_person(uow: UnitOfWork, event: EventEnvelope, data: PersonRegistered) -> None:
    await uow.conn.execute(
        """INSERT INTO known_people (person_id, roles) VALUES ($1, $2)
           ON CONFLICT (person_id) DO UPDATE SET roles = EXCLUDED.roles""",
        data.person_id,
        list(data.roles),
    )


HANDLERS = {"intake.person.registered": remember_person}
"""Merge into a subscription to intake's events: ``{**known_people.HANDLERS, ...}``."""


async def roles_of(conn: asyncpg.Connection, person_id: UUID) -> list[str] | None:
    """The person's roles, or None when intake has not (yet) told this service of them."""
    roles = await conn.fetchval("SELECT roles FROM known_people WHERE person_id = $1", person_id)
    return list(roles) if roles is not None else None
