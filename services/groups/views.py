"""Groups' read side SQL (its queries' views), kept apart from store.py: plain values, shaped
as the queries reply."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from shared.kit.db.rows import fetch_jsonable
from shared.kit.known_people import what_is_known


def _session_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "session_id": str(row["session_id"]),
        "date": row["starts_at"].date().isoformat(),
        "start_time": row["starts_at"].time().isoformat(timespec="minutes"),
        "duration_min": int((row["ends_at"] - row["starts_at"]).total_seconds() // 60),
        "venue": row["venue"],
        "facilitators": list(row["facilitators"]),
        "status": row["status"],
    }


async def programme_view(conn: asyncpg.Connection, programme_id: UUID) -> dict[str, Any] | None:
    """A programme with its sessions, enrolments by status and its waitlist in order."""
    row = await conn.fetchrow("SELECT * FROM programmes WHERE programme_id = $1", programme_id)
    if row is None:
        return None
    sessions = await conn.fetch(
        "SELECT * FROM sessions WHERE programme_id = $1 ORDER BY starts_at", programme_id
    )
    counts = await conn.fetch(
        """SELECT status, count(*) AS n FROM enrolments WHERE programme_id = $1
           GROUP BY status""",
        programme_id,
    )
    waitlist = await conn.fetch(
        """SELECT enrollment_id, person_id FROM enrolments
           WHERE programme_id = $1 AND status = 'waitlisted' ORDER BY seq""",
        programme_id,
    )
    return {
        "programme_id": str(row["programme_id"]),
        "site": row["site"],
        "title": row["title"],
        "type": row["type"],
        "target_roles": list(row["target_roles"]),
        "capacity": row["capacity"],
        "requires_case": row["requires_case"],
        "tags": list(row["tags"]),
        "facilitators": list(row["facilitators"]),
        "venue": row["venue"],
        "sessions": [_session_view(s) for s in sessions],
        "enrolments": {r["status"]: r["n"] for r in counts},
        "waitlist": [
            {"enrollment_id": str(w["enrollment_id"]), "person_id": str(w["person_id"])}
            for w in waitlist
        ],
    }


async def roster_view(
    conn: asyncpg.Connection, session_id: UUID
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A session (with its walk-ins), and its people: those enrolled, and anyone marked at
    it, in the order they enrolled, with ``attendance`` present, absent or None; then those
    who dropped in (no enrolment)."""
    session = await conn.fetchrow("SELECT * FROM sessions WHERE session_id = $1", session_id)
    if session is None:
        return None
    people = await conn.fetch(
        """SELECT e.enrollment_id, e.person_id, a.present
           FROM enrolments e
           LEFT JOIN attendance a ON a.session_id = $2 AND a.person_id = e.person_id
           WHERE e.programme_id = $1
             AND (e.status = 'enrolled' OR a.person_id IS NOT NULL)
           ORDER BY e.seq""",
        session["programme_id"],
        session_id,
    )
    drop_ins = await conn.fetch(
        """SELECT person_id FROM attendance WHERE session_id = $1 AND dropped_in
           ORDER BY person_id""",
        session_id,
    )
    return {**_session_view(session), "site": session["site"], "walk_ins": session["walk_ins"]}, [
        {
            "enrollment_id": str(r["enrollment_id"]),
            "person_id": str(r["person_id"]),
            "attendance": _marked(r["present"]),
            "dropped_in": False,
        }
        for r in people
    ] + [
        {
            "enrollment_id": None,
            "person_id": str(r["person_id"]),
            "attendance": "present",
            "dropped_in": True,
        }
        for r in drop_ins
    ]


def _marked(present: bool | None) -> str | None:
    return None if present is None else ("present" if present else "absent")


async def sessions_held(conn: asyncpg.Connection, programme_id: UUID) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM sessions WHERE programme_id = $1 AND status = 'held'",
            programme_id,
        )
    )


async def participants_attended(
    conn: asyncpg.Connection, programme_id: UUID
) -> list[tuple[str, str, int]]:
    """Each participant enrolled or withdrawn, in order: (person_id, status, held sessions
    they were present at)."""
    found = await conn.fetch(
        """SELECT e.person_id, e.status,
                  count(a.*) FILTER (WHERE a.present AND s.status = 'held') AS attended
           FROM enrolments e
           LEFT JOIN attendance a ON a.person_id = e.person_id
           LEFT JOIN sessions s ON s.session_id = a.session_id AND s.programme_id = e.programme_id
           WHERE e.programme_id = $1 AND e.status IN ('enrolled', 'withdrawn')
           GROUP BY e.person_id, e.status, e.seq ORDER BY e.seq""",
        programme_id,
    )
    return [(str(r["person_id"]), r["status"], int(r["attended"])) for r in found]


async def calendar_view(
    conn: asyncpg.Connection, sites: list[str], from_date: date, to_date: date
) -> list[dict[str, Any]]:
    """Sessions at ``sites`` starting on ``from_date`` to ``to_date`` (both included), in time
    order, with their programme's title and type."""
    found = await conn.fetch(
        """SELECT s.*, p.title, p.type FROM sessions s JOIN programmes p USING (programme_id)
           WHERE s.site = ANY($1::text[]) AND s.starts_at >= $2 AND s.starts_at < $3
           ORDER BY s.starts_at, p.title, s.session_id""",
        sites,
        datetime.combine(from_date, time()),
        datetime.combine(to_date + timedelta(days=1), time()),
    )
    return [
        {
            **_session_view(r),
            "site": r["site"],
            "programme_id": str(r["programme_id"]),
            "title": r["title"],
            "type": r["type"],
        }
        for r in found
    ]


async def person_enrolments_view(
    conn: asyncpg.Connection, person_id: UUID, sites: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The person's enrolments in programmes at ``sites`` (newest first), and the sessions
    there they were marked at (newest first)."""
    enrolments = await conn.fetch(
        """SELECT e.*, p.title, p.type, p.site FROM enrolments e JOIN programmes p
           USING (programme_id)
           WHERE e.person_id = $1 AND p.site = ANY($2::text[])
           ORDER BY e.enrolled_on DESC, e.seq DESC""",
        person_id,
        sites,
    )
    marked = await conn.fetch(
        """SELECT a.present, a.dropped_in, s.*, p.title, p.type FROM attendance a
           JOIN sessions s USING (session_id) JOIN programmes p USING (programme_id)
           WHERE a.person_id = $1 AND s.site = ANY($2::text[])
           ORDER BY s.starts_at DESC, s.session_id""",
        person_id,
        sites,
    )
    return {
        "enrolments": [
            {
                "enrollment_id": str(r["enrollment_id"]),
                "programme_id": str(r["programme_id"]),
                "site": r["site"],
                "title": r["title"],
                "type": r["type"],
                "status": r["status"],
                "enrolled_on": r["enrolled_on"].isoformat(),
                "withdrawn_on": r["withdrawn_on"].isoformat() if r["withdrawn_on"] else None,
            }
            for r in enrolments
        ],
        "attendance": [
            {
                "session_id": str(r["session_id"]),
                "programme_id": str(r["programme_id"]),
                "site": r["site"],
                "title": r["title"],
                "type": r["type"],
                "date": r["starts_at"].date().isoformat(),
                "attendance": _marked(r["present"]),
                "dropped_in": r["dropped_in"],
            }
            for r in marked
        ],
    }


def _day(moment: datetime | None) -> str | None:
    return moment.date().isoformat() if moment else None


async def programmes_view(
    conn: asyncpg.Connection, sites: list[str], today: date, include_ended: bool
) -> list[dict[str, Any]]:
    """Programmes at ``sites`` by title, with their enrolments counted and their sessions'
    first, last and next (today or later) dates, cancelled sessions left out; without
    ``include_ended``, only those with a session today or later."""
    found = await conn.fetch(
        """SELECT p.*, s.first_at, s.last_at, s.next_at,
                  (SELECT count(*) FROM enrolments e WHERE e.programme_id = p.programme_id
                     AND e.status = 'enrolled') AS enrolled,
                  (SELECT count(*) FROM enrolments e WHERE e.programme_id = p.programme_id
                     AND e.status = 'waitlisted') AS waitlisted
           FROM programmes p
           LEFT JOIN LATERAL (
               SELECT min(starts_at) AS first_at, max(starts_at) AS last_at,
                      min(starts_at) FILTER (WHERE starts_at >= $2) AS next_at
               FROM sessions WHERE programme_id = p.programme_id AND status <> 'cancelled'
           ) s ON true
           WHERE p.site = ANY($1::text[]) AND ($3 OR s.next_at IS NOT NULL)
           ORDER BY p.title, p.created_at, p.programme_id""",
        sites,
        datetime.combine(today, time()),
        include_ended,
    )
    return [
        {
            "programme_id": str(r["programme_id"]),
            "site": r["site"],
            "title": r["title"],
            "type": r["type"],
            "target_roles": list(r["target_roles"]),
            "capacity": r["capacity"],
            "requires_case": r["requires_case"],
            "venue": r["venue"],
            "facilitators": list(r["facilitators"]),
            "enrolled": r["enrolled"],
            "waitlisted": r["waitlisted"],
            "first_session": _day(r["first_at"]),
            "last_session": _day(r["last_at"]),
            "next_session": _day(r["next_at"]),
        }
        for r in found
    ]


async def waitlist_view(conn: asyncpg.Connection, programme_id: UUID) -> list[dict[str, Any]]:
    """The programme's waitlisted enrolments in the order they are promoted."""
    found = await conn.fetch(
        """SELECT enrollment_id, person_id, enrolled_on FROM enrolments
           WHERE programme_id = $1 AND status = 'waitlisted' ORDER BY seq""",
        programme_id,
    )
    return [
        {
            "enrollment_id": str(r["enrollment_id"]),
            "person_id": str(r["person_id"]),
            "since": r["enrolled_on"].isoformat(),
        }
        for r in found
    ]


# --- access requests (issue 17) -------------------------------------------------------------


async def person_data_view(
    conn: asyncpg.Connection, person_id: UUID, sites: list[str]
) -> dict[str, Any]:
    """Every row groups holds about the person (and the duplicates merged into them) at
    ``sites``: enrolments, attendance and open cases there; the roles and merges groups keeps
    for every site (they are not kept per site)."""
    known = await what_is_known(conn, person_id)
    ids = known.pop("ids")
    return {
        **known,
        "enrolments": await fetch_jsonable(
            conn,
            """SELECT e.enrollment_id, e.person_id, e.programme_id, p.site, p.title, p.type,
                      e.status, e.enrolled_on, e.enrolled_by, e.withdrawn_on, e.withdraw_reason
               FROM enrolments e JOIN programmes p USING (programme_id)
               WHERE e.person_id = ANY($1::uuid[]) AND p.site = ANY($2::text[])
               ORDER BY e.enrolled_on, e.seq""",
            ids,
            sites,
        ),
        "attendance": await fetch_jsonable(
            conn,
            """SELECT a.session_id, a.person_id, s.programme_id, s.site, p.title,
                      s.starts_at::date AS date, s.status AS session_status,
                      CASE WHEN a.present THEN 'present' ELSE 'absent' END AS attendance,
                      a.dropped_in
               FROM attendance a JOIN sessions s USING (session_id)
               JOIN programmes p USING (programme_id)
               WHERE a.person_id = ANY($1::uuid[]) AND s.site = ANY($2::text[])
               ORDER BY s.starts_at, a.session_id""",
            ids,
            sites,
        ),
        "open_cases": await fetch_jsonable(
            conn,
            """SELECT case_id, site FROM open_cases
               WHERE person_id = ANY($1::uuid[]) AND site = ANY($2::text[]) ORDER BY case_id""",
            ids,
            sites,
        ),
    }
