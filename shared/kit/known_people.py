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

Consent to share: ``known_people.site`` is the person's home site (where they were registered;
for a person known only by a case, that case's site), and a ``known_consents`` table
(``person_id uuid, purpose text, given bool, recorded_at timestamptz``, one row per person and
purpose) keeps each purpose's latest ``consent.recorded``. ``may_share`` answers whether a
person may be named at a site (``Organisation.shares_beyond``).
A person whose personal data intake erased (``person.erased``) is forgotten: such a service
also keeps an ``erased_people`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg

from shared.agency.sites import Organisation
from shared.kit.bus.consumer import EventHandler
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.intake import (
    CaseOpened,
    ConsentRecorded,
    PersonErased,
    PersonMerged,
    PersonRegistered,
    PersonUpdated,
)
from shared.kit.db.rows import fetch_jsonable
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


async def _home_site(conn: asyncpg.Connection, person_id: UUID, site: str) -> None:
    """The first site a person is learnt at stays their home site."""
    await conn.execute(
        "UPDATE known_people SET site = $2 WHERE person_id = $1 AND site IS NULL", person_id, site
    )


async def remember_person(uow: UnitOfWork, event: EventEnvelope, data: PersonRegistered) -> None:
    kept = await person_of(uow.conn, data.person_id)
    if kept != data.person_id:
        await _add_roles(uow.conn, kept, list(data.roles))
        return
    await uow.conn.execute(
        """INSERT INTO known_people (person_id, roles, site) VALUES ($1, $2, $3)
           ON CONFLICT (person_id) DO UPDATE SET roles = EXCLUDED.roles, site = EXCLUDED.site""",
        data.person_id,
        list(data.roles),
        event.site,
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
    roles are the person's when it opened, so they never take one away: a correction does).
    A person first learnt by a case has its site for home site."""
    person_id = await person_of(uow.conn, data.person_id)
    await _add_roles(uow.conn, person_id, list(data.roles))
    await _home_site(uow.conn, person_id, event.site)


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
    kept = await person_of(uow.conn, data.into_id)
    await _add_roles(uow.conn, kept, list(data.roles))
    # Intake gives the kept person the duplicate's consent records: the latest of each wins.
    for row in await uow.conn.fetch(
        "DELETE FROM known_consents WHERE person_id = $1 RETURNING purpose, given, recorded_at",
        data.duplicate_id,
    ):
        await _consent(uow.conn, kept, row["purpose"], row["given"], row["recorded_at"])


async def _consent(
    conn: asyncpg.Connection, person_id: UUID, purpose: str, given: bool, at: Any
) -> None:
    await conn.execute(
        """INSERT INTO known_consents (person_id, purpose, given, recorded_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (person_id, purpose) DO UPDATE
           SET given = EXCLUDED.given, recorded_at = EXCLUDED.recorded_at
           WHERE known_consents.recorded_at <= EXCLUDED.recorded_at""",
        person_id,
        purpose,
        given,
        at,
    )


async def remember_consent(uow: UnitOfWork, event: EventEnvelope, data: ConsentRecorded) -> None:
    """The person's latest consent for the purpose (by when intake recorded it)."""
    person_id = await person_of(uow.conn, data.person_id)
    await _consent(uow.conn, person_id, data.purpose, data.given, event.time)


async def has_consent(conn: asyncpg.Connection, person_id: UUID, purpose: str) -> bool:
    """Whether the person's latest ``purpose`` consent, as intake told it, is given."""
    return bool(
        await conn.fetchval(
            "SELECT given FROM known_consents WHERE person_id = $1 AND purpose = $2",
            await person_of(conn, person_id),
            purpose,
        )
    )


async def may_share(
    conn: asyncpg.Connection, organisation: Organisation, person_id: UUID, at: str
) -> bool:
    """Whether the person may be named at site ``at``: it is their home site or below it, or
    they have given ``data_sharing`` consent. A person whose home site this service does not
    know is treated as from elsewhere."""
    home = await conn.fetchval(
        "SELECT site FROM known_people WHERE person_id = $1", await person_of(conn, person_id)
    )
    if home is not None and not organisation.shares_beyond(home, at):
        return True
    return await has_consent(conn, person_id, "data_sharing")


async def forget_erased(uow: UnitOfWork, event: EventEnvelope, data: PersonErased) -> None:
    """An erased person (and the duplicates merged into them) is no longer known: their roles,
    home site and consents go, and ``erased_people`` (``person_id uuid PRIMARY KEY, erased_on
    date NOT NULL``) keeps the id, so a service refuses them as it refuses anyone intake has
    not told it of."""
    kept = await person_of(uow.conn, data.person_id)
    await uow.conn.execute(
        """DELETE FROM known_people WHERE person_id = $1
              OR person_id IN (SELECT duplicate_id FROM merged_people WHERE into_id = $1)""",
        kept,
    )
    await uow.conn.execute("DELETE FROM known_consents WHERE person_id = $1", kept)
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
    "intake.consent.recorded": remember_consent,
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


async def what_is_known(conn: asyncpg.Connection, person_id: UUID) -> dict[str, Any]:
    """What these tables hold about a person, for their access request: roles, home site,
    latest consents and the duplicates merged into them (``ids``: the person's and theirs, to
    find the service's own rows by)."""
    merged = [
        r["duplicate_id"]
        for r in await conn.fetch(
            "SELECT duplicate_id FROM merged_people WHERE into_id = $1 ORDER BY duplicate_id",
            person_id,
        )
    ]
    known = await conn.fetchrow(
        "SELECT roles, site FROM known_people WHERE person_id = $1", person_id
    )
    return {
        "ids": [person_id, *merged],
        "roles": list(known["roles"]) if known else [],
        "home_site": known["site"] if known else None,
        "consents": await fetch_jsonable(
            conn,
            """SELECT purpose, given, recorded_at FROM known_consents
               WHERE person_id = $1 ORDER BY purpose""",
            person_id,
        ),
        "merged_from": [str(m) for m in merged],
    }
