"""The people a service knows from intake's events: ids and roles, never personal data.

Groups and volunteers both keep this read model in their own schema (a ``known_people``
table with ``person_id uuid PRIMARY KEY, roles text[]``) and apply it with this handler.
"""

from __future__ import annotations

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
