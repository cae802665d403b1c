"""Volunteers' SQL."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.volunteers.domain import Candidate, Slot


async def volunteer(conn: asyncpg.Connection, volunteer_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM volunteers WHERE volunteer_id = $1 FOR UPDATE", volunteer_id
    )


async def teams_of(conn: asyncpg.Connection, volunteer_id: UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT team FROM volunteer_teams WHERE volunteer_id = $1 ORDER BY position",
        volunteer_id,
    )
    return [r["team"] for r in rows]


async def courses_of(conn: asyncpg.Connection, volunteer_id: UUID) -> set[str]:
    rows = await conn.fetch("SELECT course FROM trainings WHERE volunteer_id = $1", volunteer_id)
    return {r["course"] for r in rows}


async def session(conn: asyncpg.Connection, session_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM known_sessions WHERE session_id = $1", session_id)


async def candidates(
    conn: asyncpg.Connection, site: str, session_id: UUID, starts: datetime, ends: datetime
) -> list[Candidate]:
    """Every volunteer at the site not already on (or declined for) this session."""
    rows = await conn.fetch(
        """SELECT v.volunteer_id, v.skills,
                  ARRAY(SELECT team FROM volunteer_teams t WHERE t.volunteer_id = v.volunteer_id
                        ORDER BY position) AS teams,
                  ARRAY(SELECT course FROM trainings c
                        WHERE c.volunteer_id = v.volunteer_id) AS courses,
                  ARRAY(SELECT day FROM unavailable_dates u
                        WHERE u.volunteer_id = v.volunteer_id) AS unavailable,
                  EXISTS (SELECT 1 FROM assignments a JOIN known_sessions s USING (session_id)
                          WHERE a.volunteer_id = v.volunteer_id
                            AND a.status IN ('proposed', 'confirmed') AND NOT s.cancelled
                            AND s.starts_at < $4 AND s.ends_at > $3) AS booked,
                  coalesce((SELECT sum(minutes) FROM hours h
                            WHERE h.volunteer_id = v.volunteer_id
                              AND h.day > $3::date - 90), 0) AS recent_minutes
           FROM volunteers v
           WHERE v.site = $1
             AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.volunteer_id = v.volunteer_id
                             AND a.session_id = $2)""",
        site,
        session_id,
        starts,
        ends,
    )
    slot_rows = await conn.fetch(
        """SELECT volunteer_id, weekday, starts, ends FROM availability
           WHERE volunteer_id = ANY($1::uuid[])""",
        [r["volunteer_id"] for r in rows],
    )
    slots: dict[UUID, list[Slot]] = {}
    for s in slot_rows:
        slots.setdefault(s["volunteer_id"], []).append(Slot(s["weekday"], s["starts"], s["ends"]))
    return [
        Candidate(
            volunteer_id=r["volunteer_id"],
            teams=list(r["teams"]),
            skills=set(r["skills"]),
            completed=set(r["courses"]),
            slots=slots.get(r["volunteer_id"], []),
            unavailable=set(r["unavailable"]),
            booked_overlapping=r["booked"],
            recent_minutes=int(r["recent_minutes"]),
        )
        for r in rows
    ]
