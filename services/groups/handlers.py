"""Groups' command handlers and the handlers of intake's events."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.groups import store
from services.groups.domain import Slot, clashes_within, refuse_clashes, session_dates
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import (
    AttendanceRecorded,
    CancelSession,
    CreateProgramme,
    Enrol,
    EnrollmentCreated,
    EnrollmentPromoted,
    EnrollmentWithdrawn,
    ProgrammeCreated,
    RecordAttendance,
    RescheduleSession,
    ScheduleSession,
    SessionCancelled,
    SessionHeld,
    SessionScheduled,
    Withdraw,
    WithdrawalReason,
)
from shared.kit.contracts.intake import CaseClosed, CaseOpened, CaseTransferred
from shared.kit.contracts.replies import CommandError, ErrorDetail
from shared.kit.db.uow import UnitOfWork


def _scheduled(row: asyncpg.Record, slot: Slot, *, rescheduled: bool) -> SessionScheduled:
    return SessionScheduled(
        session_id=row["session_id"],
        programme_id=row["programme_id"],
        programme_type=row["type"],
        date=slot.starts_at.date(),
        start_time=slot.starts_at.time(),
        duration_min=int((slot.ends_at - slot.starts_at).total_seconds() // 60),
        venue=slot.venue,
        facilitators=list(slot.facilitators),
        tags=list(row["tags"]),
        rescheduled=rescheduled,
    )


async def create_programme(cmd: CreateProgramme, uow: UnitOfWork) -> dict[str, Any]:
    schedule = cmd.schedule
    slots = [
        Slot.of(day, schedule.start_time, schedule.duration_min, cmd.venue, cmd.facilitators)
        for day in session_dates(schedule)
    ]
    clashes_within(slots)
    await store.lock_calendar(uow.conn)
    for slot in slots:
        refuse_clashes(slot, await store.booked_overlapping(uow.conn, slot, uow.site))
    programme_id = uuid4()
    row = await uow.conn.fetchrow(
        """INSERT INTO programmes (programme_id, site, title, type, target_roles, capacity,
                                   requires_case, tags, facilitators, venue, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           RETURNING programme_id, type, tags""",
        programme_id,
        uow.site,
        cmd.title,
        cmd.type,
        list(cmd.target_roles),
        cmd.capacity,
        cmd.requires_case,
        list(cmd.tags),
        list(cmd.facilitators),
        cmd.venue,
        cmd.actor,
    )
    uow.record(
        ProgrammeCreated(
            programme_id=programme_id,
            type=cmd.type,
            target_roles=list(cmd.target_roles),
            capacity=cmd.capacity,
            requires_case=cmd.requires_case,
            tags=list(cmd.tags),
            facilitators=list(cmd.facilitators),
        ),
        subject=programme_id,
    )
    session_ids = []
    for slot in slots:
        session_id = uuid4()
        await store.insert_session(uow.conn, session_id, programme_id, uow.site, slot)
        view = {"session_id": session_id, "programme_id": programme_id, **dict(row)}
        uow.record(_scheduled(view, slot, rescheduled=False), subject=session_id)  # type: ignore[arg-type]
        session_ids.append(str(session_id))
    return {"programme_id": str(programme_id), "session_ids": session_ids}


async def schedule_session(cmd: ScheduleSession, uow: UnitOfWork) -> dict[str, Any]:
    found = await store.load_programme(uow.conn, cmd.programme_id)
    if found is None or found[0].site != uow.site:
        raise CommandError.not_found("programme", "programme_id")
    _, row = found
    last = await uow.conn.fetchrow(
        """SELECT starts_at, ends_at FROM sessions WHERE programme_id = $1
           ORDER BY starts_at DESC LIMIT 1""",
        cmd.programme_id,
    )
    duration = cmd.duration_min or (
        int((last["ends_at"] - last["starts_at"]).total_seconds() // 60) if last else 60
    )
    slot = Slot.of(
        cmd.date,
        cmd.start_time,
        duration,
        cmd.venue or row["venue"],
        cmd.facilitators if cmd.facilitators is not None else row["facilitators"],
    )
    await store.lock_calendar(uow.conn)
    refuse_clashes(slot, await store.booked_overlapping(uow.conn, slot, uow.site))
    session_id = uuid4()
    await store.insert_session(uow.conn, session_id, cmd.programme_id, uow.site, slot)
    view = {"session_id": session_id, "programme_id": cmd.programme_id, **dict(row)}
    uow.record(_scheduled(view, slot, rescheduled=False), subject=session_id)  # type: ignore[arg-type]
    return {"session_id": str(session_id)}


async def _session_here(uow: UnitOfWork, session_id: UUID) -> asyncpg.Record:
    row = await store.load_session(uow.conn, session_id, lock=True)
    if row is None or row["site"] != uow.site:
        raise CommandError.not_found("session", "session_id")
    return row


async def cancel_session(cmd: CancelSession, uow: UnitOfWork) -> dict[str, Any]:
    session = await _session_here(uow, cmd.session_id)
    if session["status"] != "scheduled":
        raise CommandError(
            "conflict", f"the session is already {session['status']}", session_id="not scheduled"
        )
    await uow.conn.execute(
        "UPDATE sessions SET status = 'cancelled', cancel_reason = $2 WHERE session_id = $1",
        cmd.session_id,
        cmd.reason,
    )
    uow.record(
        SessionCancelled(
            session_id=cmd.session_id,
            programme_id=session["programme_id"],
            programme_type=session["programme_type"],
            date=session["starts_at"].date(),
        ),
        subject=cmd.session_id,
    )
    return {"session_id": str(cmd.session_id), "status": "cancelled"}


async def reschedule_session(cmd: RescheduleSession, uow: UnitOfWork) -> dict[str, Any]:
    session = await _session_here(uow, cmd.session_id)
    if session["status"] != "scheduled":
        raise CommandError(
            "conflict",
            f"a session that is {session['status']} cannot be moved",
            session_id=session["status"],
        )
    duration = cmd.duration_min or int(
        (session["ends_at"] - session["starts_at"]).total_seconds() // 60
    )
    slot = Slot.of(
        cmd.date, cmd.start_time, duration, cmd.venue or session["venue"], session["facilitators"]
    )
    await store.lock_calendar(uow.conn)
    refuse_clashes(
        slot, await store.booked_overlapping(uow.conn, slot, uow.site, ignore=cmd.session_id)
    )
    await uow.conn.execute(
        "UPDATE sessions SET starts_at = $2, ends_at = $3, venue = $4 WHERE session_id = $1",
        cmd.session_id,
        slot.starts_at,
        slot.ends_at,
        slot.venue,
    )
    view = {**dict(session), "type": session["programme_type"]}
    uow.record(_scheduled(view, slot, rescheduled=True), subject=cmd.session_id)  # type: ignore[arg-type]
    return {"session_id": str(cmd.session_id), "date": cmd.date.isoformat()}


async def enrol(cmd: Enrol, uow: UnitOfWork) -> dict[str, Any]:
    enrolled_on = uow.business_date(cmd.on)
    # Locking the programme row makes concurrent enrolments take places one at a time.
    found = await store.load_programme(uow.conn, cmd.programme_id, lock=True)
    if found is None or found[0].site != uow.site:
        raise CommandError.not_found("programme", "programme_id")
    programme, row = found
    programme.check_eligible(
        await store.known_roles(uow.conn, cmd.person_id),
        await store.has_open_case(uow.conn, cmd.person_id, uow.site),
    )
    status = programme.status_for_newcomer(
        await store.enrolled_count(uow.conn, programme.programme_id)
    )
    enrollment_id = uuid4()
    inserted = await uow.conn.fetchval(
        """INSERT INTO enrolments (enrollment_id, programme_id, person_id, status, enrolled_on,
                                    enrolled_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (programme_id, person_id) WHERE status IN ('enrolled', 'waitlisted')
           DO NOTHING RETURNING true""",
        enrollment_id,
        cmd.programme_id,
        cmd.person_id,
        status,
        enrolled_on,
        cmd.actor,
    )
    if not inserted:
        raise CommandError(
            "conflict", "the person is already enrolled or waiting", person_id="already enrolled"
        )
    uow.record(
        EnrollmentCreated(
            enrollment_id=enrollment_id,
            programme_id=cmd.programme_id,
            programme_type=row["type"],
            person_id=cmd.person_id,
            status=status,  # type: ignore[arg-type]
            enrolled_on=enrolled_on,
        ),
        subject=enrollment_id,
    )
    return {"enrollment_id": str(enrollment_id), "status": status}


async def _end_enrolment(
    uow: UnitOfWork,
    enrollment_id: UUID,
    programme_id: UUID,
    person_id: UUID,
    was: str,
    reason: WithdrawalReason,
    on: date,
) -> str | None:
    """Withdraw an enrolment and give a freed place to the first on the waitlist."""
    await uow.conn.execute(
        """UPDATE enrolments SET status = 'withdrawn', withdrawn_on = $2, withdraw_reason = $3
           WHERE enrollment_id = $1""",
        enrollment_id,
        on,
        reason,
    )
    uow.record(
        EnrollmentWithdrawn(
            enrollment_id=enrollment_id,
            programme_id=programme_id,
            person_id=person_id,
            reason=reason,
            was=was,  # type: ignore[arg-type]
            withdrawn_on=on,
        ),
        subject=enrollment_id,
    )
    if was != "enrolled":
        return None
    found = await store.load_programme(uow.conn, programme_id, lock=True)
    assert found is not None
    if await store.enrolled_count(uow.conn, programme_id) >= found[0].capacity:
        return None
    waiting = await store.first_waiting(uow.conn, programme_id)
    if waiting is None:
        return None
    await uow.conn.execute(
        "UPDATE enrolments SET status = 'enrolled' WHERE enrollment_id = $1",
        waiting["enrollment_id"],
    )
    uow.record(
        EnrollmentPromoted(
            enrollment_id=waiting["enrollment_id"],
            programme_id=programme_id,
            person_id=waiting["person_id"],
            promoted_on=on,
        ),
        subject=waiting["enrollment_id"],
    )
    return str(waiting["enrollment_id"])


async def withdraw(cmd: Withdraw, uow: UnitOfWork) -> dict[str, Any]:
    on = uow.business_date(cmd.on)
    row = await uow.conn.fetchrow(
        """SELECT e.enrollment_id, e.programme_id, e.person_id, e.status, p.site
           FROM enrolments e JOIN programmes p USING (programme_id)
           WHERE e.enrollment_id = $1 FOR UPDATE OF e""",
        cmd.enrollment_id,
    )
    if row is None or row["site"] != uow.site:
        raise CommandError.not_found("enrolment", "enrollment_id")
    if row["status"] == "withdrawn":
        raise CommandError("conflict", "already withdrawn", enrollment_id="already withdrawn")
    promoted = await _end_enrolment(
        uow,
        row["enrollment_id"],
        row["programme_id"],
        row["person_id"],
        row["status"],
        "withdrawn",
        on,
    )
    return {"enrollment_id": str(cmd.enrollment_id), "promoted": promoted}


async def record_attendance(cmd: RecordAttendance, uow: UnitOfWork) -> dict[str, Any]:
    session = await _session_here(uow, cmd.session_id)
    day = session["starts_at"].date()
    if session["status"] == "cancelled":
        raise CommandError("not_allowed", "the session was cancelled", session_id="cancelled")
    if day > uow.today:
        raise CommandError(
            "not_allowed",
            "attendance is taken on or after the session's date",
            session_id=f"on {day.isoformat()}",
        )
    both = set(cmd.present) & set(cmd.absent)
    if both:
        raise CommandError(
            "validation_error",
            "a person cannot be both present and absent",
            [ErrorDetail(field="absent", message=str(p)) for p in sorted(both, key=str)],
        )
    listed = list(dict.fromkeys([*cmd.present, *cmd.absent]))
    # Enrolled people, and those who withdrew only after the session. When the enrolment
    # was entered does not matter: attendance is often typed in after the fact.
    allowed = {
        r["person_id"]
        for r in await uow.conn.fetch(
            """SELECT person_id FROM enrolments
               WHERE programme_id = $1
                 AND (status = 'enrolled' OR (status = 'withdrawn' AND withdrawn_on > $2))""",
            session["programme_id"],
            day,
        )
    }
    strangers = [p for p in listed if p not in allowed]
    if strangers:
        raise CommandError(
            "not_allowed",
            "only people enrolled in the programme are marked; count others as walk-ins",
            [ErrorDetail(field="present", message=str(p)) for p in strangers],
        )
    revision = session["attendance_revision"] + 1
    await uow.conn.execute("DELETE FROM attendance WHERE session_id = $1", cmd.session_id)
    await uow.conn.executemany(
        "INSERT INTO attendance (session_id, person_id, present) VALUES ($1, $2, $3)",
        [(cmd.session_id, p, True) for p in dict.fromkeys(cmd.present)]
        + [(cmd.session_id, p, False) for p in dict.fromkeys(cmd.absent)],
    )
    await uow.conn.execute(
        """UPDATE sessions SET status = 'held', walk_ins = $2, attendance_revision = $3
           WHERE session_id = $1""",
        cmd.session_id,
        cmd.walk_ins,
        revision,
    )
    if revision == 1:
        uow.record(
            SessionHeld(
                session_id=cmd.session_id,
                programme_id=session["programme_id"],
                programme_type=session["programme_type"],
                date=day,
            ),
            subject=cmd.session_id,
        )
    uow.record(
        AttendanceRecorded(
            session_id=cmd.session_id,
            programme_id=session["programme_id"],
            programme_type=session["programme_type"],
            tags=list(session["tags"]),
            date=day,
            present=list(dict.fromkeys(cmd.present)),
            absent=list(dict.fromkeys(cmd.absent)),
            walk_ins=cmd.walk_ins,
            revision=revision,
            replaces=revision > 1,
        ),
        subject=cmd.session_id,
    )
    return {"session_id": str(cmd.session_id), "revision": revision, "held_on": day.isoformat()}


# --- what groups learns from intake ---------------------------------------------------------


async def on_case_opened(uow: UnitOfWork, event: EventEnvelope, data: CaseOpened) -> None:
    await uow.conn.execute(
        """INSERT INTO open_cases (case_id, person_id, site) VALUES ($1, $2, $3)
           ON CONFLICT (case_id) DO NOTHING""",
        data.case_id,
        data.person_id,
        event.site,
    )
    await uow.conn.execute(
        """INSERT INTO known_people (person_id, roles) VALUES ($1, $2)
           ON CONFLICT (person_id) DO NOTHING""",
        data.person_id,
        list(data.roles),
    )


async def _case_ended(
    uow: UnitOfWork,
    case_id: UUID,
    person_id: UUID,
    site: str,
    on: date,
    reason: WithdrawalReason,
) -> None:
    await uow.conn.execute("DELETE FROM open_cases WHERE case_id = $1", case_id)
    if await store.has_open_case(uow.conn, person_id, site):
        return
    for row in await store.active_enrolments_with_sessions_from(uow.conn, person_id, site, on):
        await _end_enrolment(
            uow, row["enrollment_id"], row["programme_id"], person_id, row["status"], reason, on
        )


async def on_case_closed(uow: UnitOfWork, event: EventEnvelope, data: CaseClosed) -> None:
    await _case_ended(uow, data.case_id, data.person_id, event.site, data.closed_on, "case_closed")


async def on_case_transferred(uow: UnitOfWork, event: EventEnvelope, data: CaseTransferred) -> None:
    await _case_ended(
        uow, data.case_id, data.person_id, event.site, data.transferred_on, "case_transferred"
    )
