"""Groups' SQL for its commands and what it learns from intake: programmes, the calendar,
enrolments and attendance. Loads give domain objects. The read side's SQL is in views.py."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import asyncpg

from services.groups.domain import Attendance, Booking, Enrolment, Programme, Session, Slot
from shared.kit.contracts.groups import Schedule
from shared.kit.db import rows

# --- the calendar ---------------------------------------------------------------------------


async def lock_calendar(conn: asyncpg.Connection) -> None:
    """Scheduling is serialised so two bookings cannot both pass the clash check."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('carenet.groups.calendar'))")


async def booked_overlapping(
    conn: asyncpg.Connection, slot: Slot, site: str, *, ignore: UUID | None = None
) -> list[Booking]:
    """Sessions (not cancelled) whose time overlaps ``slot`` at its venue here or with any of
    its facilitators anywhere; ``ignore`` is the session being moved."""
    found = await conn.fetch(
        """SELECT session_id, site, starts_at, ends_at, venue, facilitators FROM sessions
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
    return [Booking(r["session_id"], r["site"], _slot(r)) for r in found]


def _slot(row: asyncpg.Record) -> Slot:
    return Slot(row["starts_at"], row["ends_at"], row["venue"], tuple(row["facilitators"]))


# --- programmes and sessions ----------------------------------------------------------------


def _programme(row: asyncpg.Record) -> Programme:
    return Programme(
        programme_id=row["programme_id"],
        site=row["site"],
        type=row["type"],
        capacity=row["capacity"],
        requires_case=row["requires_case"],
        target_roles=tuple(row["target_roles"]),
        tags=tuple(row["tags"]),
        facilitators=tuple(row["facilitators"]),
        venue=row["venue"],
        title=row["title"],
        schedule=Schedule.model_validate(row["schedule"]) if row["schedule"] else None,
    )


async def insert_programme(conn: asyncpg.Connection, programme: Programme, created_by: str) -> None:
    await rows.insert(
        conn,
        "programmes",
        programme_id=programme.programme_id,
        site=programme.site,
        title=programme.title,
        type=programme.type,
        target_roles=list(programme.target_roles),
        capacity=programme.capacity,
        requires_case=programme.requires_case,
        tags=list(programme.tags),
        facilitators=list(programme.facilitators),
        venue=programme.venue,
        created_by=created_by,
        schedule=_schedule(programme),
    )


def _schedule(programme: Programme) -> dict[str, object] | None:
    return programme.schedule.model_dump(mode="json") if programme.schedule else None


async def save_schedule(conn: asyncpg.Connection, programme: Programme) -> None:
    await rows.update(
        conn,
        "programmes",
        {"programme_id": programme.programme_id},
        schedule=_schedule(programme),
    )


async def save_capacity(conn: asyncpg.Connection, programme: Programme) -> None:
    await rows.update(
        conn, "programmes", {"programme_id": programme.programme_id}, capacity=programme.capacity
    )


async def load_programme(conn: asyncpg.Connection, programme_id: UUID) -> Programme | None:
    row = await conn.fetchrow("SELECT * FROM programmes WHERE programme_id = $1", programme_id)
    return _programme(row) if row is not None else None


async def lock_programme(conn: asyncpg.Connection, programme_id: UUID) -> Programme | None:
    """The programme with its places taken. Locking its row makes enrolments and withdrawals
    take and free places one at a time; the places are counted after the lock is held."""
    row = await conn.fetchrow(
        "SELECT * FROM programmes WHERE programme_id = $1 FOR UPDATE", programme_id
    )
    if row is None:
        return None
    programme = _programme(row)
    programme.places_taken = int(
        await conn.fetchval(
            "SELECT count(*) FROM enrolments WHERE programme_id = $1 AND status = 'enrolled'",
            programme_id,
        )
    )
    return programme


async def latest_session_length(conn: asyncpg.Connection, programme_id: UUID) -> int | None:
    """Minutes of the programme's latest session (cancelled or not), if it has one."""
    row = await conn.fetchrow(
        """SELECT starts_at, ends_at FROM sessions WHERE programme_id = $1
           ORDER BY starts_at DESC LIMIT 1""",
        programme_id,
    )
    return int((row["ends_at"] - row["starts_at"]).total_seconds() // 60) if row else None


async def insert_session(conn: asyncpg.Connection, session: Session) -> None:
    await rows.insert(
        conn,
        "sessions",
        session_id=session.session_id,
        programme_id=session.programme_id,
        site=session.site,
        starts_at=session.slot.starts_at,
        ends_at=session.slot.ends_at,
        venue=session.slot.venue,
        facilitators=list(session.slot.facilitators),
    )


async def lock_session(conn: asyncpg.Connection, session_id: UUID) -> Session | None:
    """The session, its row locked until the unit of work ends."""
    row = await conn.fetchrow(
        """SELECT s.*, p.type AS programme_type, p.tags
           FROM sessions s JOIN programmes p USING (programme_id)
           WHERE s.session_id = $1 FOR UPDATE OF s""",
        session_id,
    )
    if row is None:
        return None
    return Session(
        session_id=row["session_id"],
        programme_id=row["programme_id"],
        programme_type=row["programme_type"],
        site=row["site"],
        slot=_slot(row),
        tags=tuple(row["tags"]),
        status=row["status"],
        walk_ins=row["walk_ins"],
        attendance_revision=row["attendance_revision"],
    )


async def save_cancellation(conn: asyncpg.Connection, session: Session, reason: str) -> None:
    await rows.update(
        conn,
        "sessions",
        {"session_id": session.session_id},
        status=session.status,
        cancel_reason=reason,
    )


async def save_new_time(conn: asyncpg.Connection, session: Session) -> None:
    await rows.update(
        conn,
        "sessions",
        {"session_id": session.session_id},
        starts_at=session.slot.starts_at,
        ends_at=session.slot.ends_at,
        venue=session.slot.venue,
    )


async def may_be_marked(conn: asyncpg.Connection, programme_id: UUID, day: date) -> set[UUID]:
    """Enrolled people, and those who withdrew only after ``day``. When the enrolment was
    entered does not matter: attendance is often typed in after the fact."""
    found = await conn.fetch(
        """SELECT person_id FROM enrolments
           WHERE programme_id = $1
             AND (status = 'enrolled' OR (status = 'withdrawn' AND withdrawn_on > $2))""",
        programme_id,
        day,
    )
    return {r["person_id"] for r in found}


async def save_attendance(
    conn: asyncpg.Connection, session: Session, attendance: Attendance
) -> None:
    """Replace the session's attendance with this record."""
    await conn.execute("DELETE FROM attendance WHERE session_id = $1", session.session_id)
    dropped_in = set(attendance.dropped_in)
    await conn.executemany(
        """INSERT INTO attendance (session_id, person_id, present, dropped_in)
           VALUES ($1, $2, $3, $4)""",
        [(session.session_id, p, True, p in dropped_in) for p in attendance.present]
        + [(session.session_id, p, False, False) for p in attendance.absent],
    )
    await rows.update(
        conn,
        "sessions",
        {"session_id": session.session_id},
        status=session.status,
        walk_ins=session.walk_ins,
        attendance_revision=session.attendance_revision,
    )


# --- enrolments -----------------------------------------------------------------------------


async def has_open_case(conn: asyncpg.Connection, person_id: UUID, site: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM open_cases WHERE person_id = $1 AND site = $2)",
            person_id,
            site,
        )
    )


async def insert_enrolment(
    conn: asyncpg.Connection, enrolment: Enrolment, enrolled_on: date, enrolled_by: str
) -> bool:
    """Whether it was inserted: not when the person is already enrolled or waiting."""
    return await rows.insert_once(
        conn,
        "enrolments",
        "(programme_id, person_id) WHERE status IN ('enrolled', 'waitlisted')",
        enrollment_id=enrolment.enrollment_id,
        programme_id=enrolment.programme_id,
        person_id=enrolment.person_id,
        status=enrolment.status,
        enrolled_on=enrolled_on,
        enrolled_by=enrolled_by,
    )


async def lock_enrolment(conn: asyncpg.Connection, enrollment_id: UUID) -> Enrolment | None:
    """The enrolment (at its programme's site), its row locked until the unit of work ends."""
    row = await conn.fetchrow(
        """SELECT e.enrollment_id, e.programme_id, e.person_id, e.status, p.site
           FROM enrolments e JOIN programmes p USING (programme_id)
           WHERE e.enrollment_id = $1 FOR UPDATE OF e""",
        enrollment_id,
    )
    return _enrolment(row) if row is not None else None


def _enrolment(row: asyncpg.Record) -> Enrolment:
    return Enrolment(
        row["enrollment_id"], row["programme_id"], row["person_id"], row["site"], row["status"]
    )


async def first_waiting(conn: asyncpg.Connection, programme: Programme) -> Enrolment | None:
    found = await waiting(conn, programme, limit=1)
    return found[0] if found else None


async def waiting(
    conn: asyncpg.Connection, programme: Programme, *, limit: int | None = None
) -> list[Enrolment]:
    """The programme's waitlist, in order (the first ``limit``)."""
    found = await conn.fetch(
        """SELECT enrollment_id, person_id FROM enrolments
           WHERE programme_id = $1 AND status = 'waitlisted' ORDER BY seq LIMIT $2""",
        programme.programme_id,
        limit,
    )
    return [
        Enrolment(
            r["enrollment_id"], programme.programme_id, r["person_id"], programme.site, "waitlisted"
        )
        for r in found
    ]


async def save_withdrawal(
    conn: asyncpg.Connection, enrolment: Enrolment, on: date, reason: str
) -> None:
    await rows.update(
        conn,
        "enrolments",
        {"enrollment_id": enrolment.enrollment_id},
        status=enrolment.status,
        withdrawn_on=on,
        withdraw_reason=reason,
    )


async def save_promotion(conn: asyncpg.Connection, enrolment: Enrolment) -> None:
    await rows.update(
        conn, "enrolments", {"enrollment_id": enrolment.enrollment_id}, status=enrolment.status
    )


# --- what intake told us --------------------------------------------------------------------


async def remember_open_case(
    conn: asyncpg.Connection, case_id: UUID, person_id: UUID, site: str
) -> None:
    await rows.insert_once(
        conn, "open_cases", "(case_id)", case_id=case_id, person_id=person_id, site=site
    )


async def forget_open_case(conn: asyncpg.Connection, case_id: UUID) -> None:
    await conn.execute("DELETE FROM open_cases WHERE case_id = $1", case_id)


async def active_enrolments(
    conn: asyncpg.Connection, person_id: UUID, site: str | None
) -> list[tuple[Enrolment, date | None]]:
    """The person's enrolled or waiting enrolments at ``site`` (None: at every site), in the
    order they were made, each with the day of its programme's last scheduled session (None if
    none)."""
    found = await conn.fetch(
        """SELECT e.enrollment_id, e.programme_id, e.person_id, e.status, p.site,
                  (SELECT max(s.starts_at)::date FROM sessions s
                   WHERE s.programme_id = p.programme_id AND s.status = 'scheduled')
                      AS last_session_on
           FROM enrolments e JOIN programmes p USING (programme_id)
           WHERE e.person_id = $1 AND ($2::text IS NULL OR p.site = $2)
             AND e.status IN ('enrolled', 'waitlisted')
           ORDER BY e.seq""",
        person_id,
        site,
    )
    return [(_enrolment(r), r["last_session_on"]) for r in found]


async def move_person(conn: asyncpg.Connection, duplicate_id: UUID, into_id: UUID) -> None:
    """The duplicate's open cases, active enrolments (but where the kept person has one too:
    ``enrolments_both``) and attendance become the kept person's."""
    await conn.execute(
        "UPDATE open_cases SET person_id = $2 WHERE person_id = $1", duplicate_id, into_id
    )
    await conn.execute(
        """UPDATE enrolments d SET person_id = $2
           WHERE d.person_id = $1 AND NOT (d.status IN ('enrolled', 'waitlisted') AND EXISTS (
               SELECT 1 FROM enrolments k
               WHERE k.person_id = $2 AND k.programme_id = d.programme_id
                 AND k.status IN ('enrolled', 'waitlisted')))""",
        duplicate_id,
        into_id,
    )
    await conn.execute(
        """UPDATE attendance d SET person_id = $2
           WHERE d.person_id = $1 AND NOT EXISTS (
               SELECT 1 FROM attendance k
               WHERE k.session_id = d.session_id AND k.person_id = $2)""",
        duplicate_id,
        into_id,
    )
    # Marked on both records at one session: the kept person's mark stands (present wins).
    await conn.execute(
        """UPDATE attendance k SET present = k.present OR d.present
           FROM attendance d
           WHERE d.person_id = $1 AND k.person_id = $2 AND k.session_id = d.session_id""",
        duplicate_id,
        into_id,
    )
    await conn.execute("DELETE FROM attendance WHERE person_id = $1", duplicate_id)


async def enrolments_both(conn: asyncpg.Connection, duplicate_id: UUID) -> list[Enrolment]:
    """The duplicate's active enrolments left after ``move_person``: programmes the kept person
    is in as well, locked."""
    found = await conn.fetch(
        """SELECT e.enrollment_id, e.programme_id, e.person_id, e.status, p.site
           FROM enrolments e JOIN programmes p USING (programme_id)
           WHERE e.person_id = $1 AND e.status IN ('enrolled', 'waitlisted')
           ORDER BY e.seq FOR UPDATE OF e""",
        duplicate_id,
    )
    return [_enrolment(row) for row in found]
