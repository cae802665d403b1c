"""Groups' command handlers: load, decide, save, record."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from services.groups import store
from services.groups.domain import (
    Enrolment,
    Programme,
    Session,
    Slot,
    clashes_within,
    refuse_clashes,
    refuse_without_consent_to_share,
    session_dates,
)
from shared.agency.sites import Organisation
from shared.kit.commands import created, found, once
from shared.kit.contracts.groups import (
    AttendanceRecorded,
    CancelSession,
    ChangeCapacity,
    CreateProgramme,
    Enrol,
    EnrollmentCreated,
    EnrollmentPromoted,
    EnrollmentWithdrawn,
    ExtendProgramme,
    ProgrammeCapacityChanged,
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
from shared.kit.db.uow import UnitOfWork
from shared.kit.known_people import may_share, people_of, person_of, roles_of


def _scheduled(session: Session, *, rescheduled: bool) -> SessionScheduled:
    slot = session.slot
    return SessionScheduled.of(
        session, slot, date=slot.day, start_time=slot.starts_at.time(), rescheduled=rescheduled
    )


async def _refuse_clashes(
    uow: UnitOfWork, slots: list[Slot], *, moving: Session | None = None
) -> None:
    """Check the slots against the calendar, which stays locked until the unit of work ends;
    ``moving`` is the session being rescheduled."""
    await store.lock_calendar(uow.conn)
    ignore = moving.session_id if moving is not None else None
    for slot in slots:
        booked = await store.booked_overlapping(uow.conn, slot, uow.site, ignore=ignore)
        refuse_clashes(slot, uow.site, booked)


async def create_programme(cmd: CreateProgramme, uow: UnitOfWork) -> dict[str, Any]:
    schedule = cmd.schedule
    slots = [
        Slot.of(day, schedule.start_time, schedule.duration_min, cmd.venue, cmd.facilitators)
        for day in session_dates(schedule)
    ]
    clashes_within(slots)
    await _refuse_clashes(uow, slots)
    programme = Programme(
        programme_id=uuid4(),
        site=uow.site,
        type=cmd.type,
        capacity=cmd.capacity,
        requires_case=cmd.requires_case,
        target_roles=tuple(cmd.target_roles),
        tags=tuple(cmd.tags),
        facilitators=tuple(cmd.facilitators),
        venue=cmd.venue,
        title=cmd.title,
        schedule=schedule,
    )
    await store.insert_programme(uow.conn, programme, created_by=cmd.actor)
    uow.record(
        ProgrammeCreated.of(cmd, programme_id=programme.programme_id),
        subject=programme.programme_id,
    )
    session_ids = []
    for slot in slots:
        session = programme.session(uuid4(), slot)
        await store.insert_session(uow.conn, session)
        uow.record(_scheduled(session, rescheduled=False), subject=session.session_id)
        session_ids.append(str(session.session_id))
    return {"programme_id": str(programme.programme_id), "session_ids": session_ids}


async def schedule_session(cmd: ScheduleSession, uow: UnitOfWork) -> dict[str, Any]:
    programme = found(
        await store.load_programme(uow.conn, cmd.programme_id),
        "programme",
        "programme_id",
        site=uow.site,
    )
    slot = programme.next_slot(
        cmd.date,
        cmd.start_time,
        cmd.duration_min,
        cmd.venue,
        cmd.facilitators,
        await store.latest_session_length(uow.conn, programme.programme_id),
    )
    await _refuse_clashes(uow, [slot])
    session = programme.session(uuid4(), slot)
    await store.insert_session(uow.conn, session)
    return created(uow, _scheduled(session, rescheduled=False), "session_id")


async def _programme_here(uow: UnitOfWork, programme_id: UUID) -> Programme:
    """The programme with its places, locked until the unit of work ends."""
    return found(
        await store.lock_programme(uow.conn, programme_id),
        "programme",
        "programme_id",
        site=uow.site,
    )


async def extend_programme(cmd: ExtendProgramme, uow: UnitOfWork) -> dict[str, Any]:
    programme = await _programme_here(uow, cmd.programme_id)
    days = programme.extend(cmd.count)
    assert programme.schedule is not None
    schedule = programme.schedule
    slots = [
        Slot.of(
            day, schedule.start_time, schedule.duration_min, programme.venue, programme.facilitators
        )
        for day in days
    ]
    await _refuse_clashes(uow, slots)
    await store.save_schedule(uow.conn, programme)
    session_ids = []
    for slot in slots:
        session = programme.session(uuid4(), slot)
        await store.insert_session(uow.conn, session)
        uow.record(_scheduled(session, rescheduled=False), subject=session.session_id)
        session_ids.append(str(session.session_id))
    return {"programme_id": str(programme.programme_id), "session_ids": session_ids}


async def change_capacity(cmd: ChangeCapacity, uow: UnitOfWork) -> dict[str, Any]:
    on = uow.business_date(cmd.on)
    programme = await _programme_here(uow, cmd.programme_id)
    waiting = await store.waiting(uow.conn, programme)
    was = programme.change_capacity(cmd.capacity, len(waiting))
    await store.save_capacity(uow.conn, programme)
    uow.record(
        ProgrammeCapacityChanged.of(programme, was=was, changed_on=on),
        subject=programme.programme_id,
    )
    promoted = programme.fill_free_places(waiting)
    for enrolment in promoted:
        await store.save_promotion(uow.conn, enrolment)
        uow.record(
            EnrollmentPromoted.of(enrolment, promoted_on=on), subject=enrolment.enrollment_id
        )
    return {
        "programme_id": str(programme.programme_id),
        "capacity": programme.capacity,
        "was": was,
        "enrolled": programme.places_taken,
        "promoted": [str(e.enrollment_id) for e in promoted],
    }


async def _session_here(uow: UnitOfWork, session_id: UUID) -> Session:
    return found(
        await store.lock_session(uow.conn, session_id), "session", "session_id", site=uow.site
    )


async def cancel_session(cmd: CancelSession, uow: UnitOfWork) -> dict[str, Any]:
    session = await _session_here(uow, cmd.session_id)
    session.cancel()
    await store.save_cancellation(uow.conn, session, cmd.reason)
    uow.record(
        SessionCancelled.of(session, date=session.slot.day),
        subject=session.session_id,
    )
    return {"session_id": str(session.session_id), "status": session.status}


async def reschedule_session(cmd: RescheduleSession, uow: UnitOfWork) -> dict[str, Any]:
    session = await _session_here(uow, cmd.session_id)
    session.reschedule(cmd.date, cmd.start_time, cmd.duration_min, cmd.venue)
    await _refuse_clashes(uow, [session.slot], moving=session)
    await store.save_new_time(uow.conn, session)
    uow.record(_scheduled(session, rescheduled=True), subject=session.session_id)
    return {"session_id": str(session.session_id), "date": cmd.date.isoformat()}


async def enrol(cmd: Enrol, uow: UnitOfWork, *, organisation: Organisation) -> dict[str, Any]:
    enrolled_on = uow.business_date(cmd.on)
    programme = found(
        await store.lock_programme(uow.conn, cmd.programme_id),
        "programme",
        "programme_id",
        site=uow.site,
    )
    person_id = await person_of(uow.conn, cmd.person_id)
    enrolment = programme.enrol(
        uuid4(),
        person_id,
        await roles_of(uow.conn, person_id),
        await store.has_open_case(uow.conn, person_id, uow.site),
        may_share=await may_share(uow.conn, organisation, person_id, programme.site),
    )
    once(
        await store.insert_enrolment(uow.conn, enrolment, enrolled_on, cmd.actor),
        "the person is already enrolled or waiting",
        person_id="already enrolled",
    )
    return created(
        uow,
        EnrollmentCreated.of(enrolment, programme_type=programme.type, enrolled_on=enrolled_on),
        "enrollment_id",
        status=enrolment.status,
    )


async def end_enrolment(
    uow: UnitOfWork, enrolment: Enrolment, reason: WithdrawalReason, on: date
) -> str | None:
    """Withdraw an enrolment and give a freed place to the first on the waitlist; the id of
    the enrolment promoted, if any. Staff withdraw people; intake's ending a case does too."""
    withdrawal = enrolment.withdraw()
    await store.save_withdrawal(uow.conn, enrolment, on, reason)
    uow.record(
        EnrollmentWithdrawn.of(enrolment, withdrawal, reason=reason, withdrawn_on=on),
        subject=enrolment.enrollment_id,
    )
    if not withdrawal.frees_a_place:
        return None
    programme = await store.lock_programme(uow.conn, enrolment.programme_id)
    assert programme is not None
    promoted = programme.fill_freed_place(await store.first_waiting(uow.conn, programme))
    if promoted is None:
        return None
    await store.save_promotion(uow.conn, promoted)
    uow.record(
        EnrollmentPromoted.of(promoted, promoted_on=on),
        subject=promoted.enrollment_id,
    )
    return str(promoted.enrollment_id)


async def withdraw(cmd: Withdraw, uow: UnitOfWork) -> dict[str, Any]:
    on = uow.business_date(cmd.on)
    enrolment = found(
        await store.lock_enrolment(uow.conn, cmd.enrollment_id),
        "enrolment",
        "enrollment_id",
        site=uow.site,
    )
    promoted = await end_enrolment(uow, enrolment, "withdrawn", on)
    return {"enrollment_id": str(cmd.enrollment_id), "promoted": promoted}


async def record_attendance(
    cmd: RecordAttendance, uow: UnitOfWork, *, organisation: Organisation
) -> dict[str, Any]:
    session = await _session_here(uow, cmd.session_id)
    day = session.slot.day
    # A merged duplicate named here is marked as the person kept.
    present = await people_of(uow.conn, cmd.present)
    absent = await people_of(uow.conn, cmd.absent)
    dropped_in = await people_of(uow.conn, cmd.dropped_in)
    if dropped_in:
        programme = await store.load_programme(uow.conn, session.programme_id)
        assert programme is not None
        programme.admit_drop_ins({p: await roles_of(uow.conn, p) for p in dropped_in})
        refuse_without_consent_to_share(
            [p for p in dropped_in if not await may_share(uow.conn, organisation, p, session.site)],
            "dropped_in",
        )
    attendance = session.record_attendance(
        present,
        absent,
        cmd.walk_ins,
        today=uow.today,
        may_be_marked=await store.may_be_marked(uow.conn, session.programme_id, day),
        dropped_in=dropped_in,
    )
    await store.save_attendance(uow.conn, session, attendance)
    if attendance.first:
        uow.record(
            SessionHeld.of(session, date=day),
            subject=session.session_id,
        )
    uow.record(
        # The attendance first: its walk-ins are this record's.
        AttendanceRecorded.of(attendance, session, date=day),
        subject=session.session_id,
    )
    return {
        "session_id": str(session.session_id),
        "revision": attendance.revision,
        "held_on": day.isoformat(),
    }
