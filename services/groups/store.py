"""Groups' SQL: programmes, the calendar, enrolments, attendance and what intake told us."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from services.groups.domain import Clash, Programme, Slot


async def lock_calendar(conn: asyncpg.Connection) -> None:
    """Scheduling is serialised so two bookings cannot both pass the clash check."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('carenet.groups.calendar'))")


async def booked_overlapping(
    conn: asyncpg.Connection, slot: Slot, site: str, *, ignore: UUID | None = None
) -> list[Clash]:
    rows = await conn.fetch(
        """SELECT session_id, starts_at, venue, facilitators FROM sessions
           WHERE status <> 'cancelled' AND starts_at < $2 AND ends_at > $1
             AND ((site = $3 AND venue = $4) OR facilitators && $5::text[])
             AND ($6::uuid IS NULL OR session_id <> $6)
           ORDER BY starts_at""",
        slot.starts_at,
        slot.ends_at,
        site,
        slot.venue,
        list(slot.facilitators),
        ignore,
    )
    return [
        Clash(r["session_id"], r["starts_at"], r["venue"], tuple(r["facilitators"])) for r in rows
    ]


async def insert_session(
    conn: asyncpg.Connection, session_id: UUID, programme_id: UUID, site: str, slot: Slot
) -> None:
    await conn.execute(
        """INSERT INTO sessions (session_id, programme_id, site, starts_at, ends_at, venue,
                                 facilitators)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        session_id,
        programme_id,
        site,
        slot.starts_at,
        slot.ends_at,
        slot.venue,
        list(slot.facilitators),
    )


async def load_programme(
    conn: asyncpg.Connection, programme_id: UUID, *, lock: bool = False
) -> tuple[Programme, asyncpg.Record] | None:
    row = await conn.fetchrow(
        "SELECT * FROM programmes WHERE programme_id = $1" + (" FOR UPDATE" if lock else ""),
        programme_id,
    )
    if row is None:
        return None
    programme = Programme(
        row["programme_id"],
        row["site"],
        row["capacity"],
        row["requires_case"],
        tuple(row["target_roles"]),
    )
    return programme, row


async def load_session(
    conn: asyncpg.Connection, session_id: UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT s.*, p.type AS programme_type, p.tags, p.site AS programme_site
           FROM sessions s JOIN programmes p USING (programme_id)
           WHERE s.session_id = $1"""
        + (" FOR UPDATE OF s" if lock else ""),
        session_id,
    )


async def known_roles(conn: asyncpg.Connection, person_id: UUID) -> list[str] | None:
    roles = await conn.fetchval("SELECT roles FROM known_people WHERE person_id = $1", person_id)
    return list(roles) if roles is not None else None


async def has_open_case(conn: asyncpg.Connection, person_id: UUID, site: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM open_cases WHERE person_id = $1 AND site = $2)",
            person_id,
            site,
        )
    )


async def enrolled_count(conn: asyncpg.Connection, programme_id: UUID) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM enrolments WHERE programme_id = $1 AND status = 'enrolled'",
            programme_id,
        )
    )


async def first_waiting(conn: asyncpg.Connection, programme_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT enrollment_id, person_id FROM enrolments
           WHERE programme_id = $1 AND status = 'waitlisted' ORDER BY seq LIMIT 1""",
        programme_id,
    )


async def active_enrolments_with_sessions_from(
    conn: asyncpg.Connection, person_id: UUID, site: str, day: date
) -> list[asyncpg.Record]:
    """Active enrolments at ``site`` in programmes that still meet on or after ``day``."""
    return await conn.fetch(
        """SELECT e.enrollment_id, e.programme_id, e.status FROM enrolments e
           JOIN programmes p USING (programme_id)
           WHERE e.person_id = $1 AND p.site = $2 AND e.status IN ('enrolled', 'waitlisted')
             AND EXISTS (SELECT 1 FROM sessions s WHERE s.programme_id = p.programme_id
                         AND s.status = 'scheduled' AND s.starts_at::date >= $3)
           ORDER BY e.seq""",
        person_id,
        site,
        day,
    )


def session_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "session_id": str(row["session_id"]),
        "date": row["starts_at"].date().isoformat(),
        "start_time": row["starts_at"].time().isoformat(timespec="minutes"),
        "duration_min": int((row["ends_at"] - row["starts_at"]).total_seconds() // 60),
        "venue": row["venue"],
        "facilitators": list(row["facilitators"]),
        "status": row["status"],
    }
