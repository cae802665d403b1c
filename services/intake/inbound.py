"""What intake learns from groups' and volunteers' events: the latest day each person was
active there, so the retention rule keeps the data of people who come to groups or volunteer
though they have no casework (``person_activity``; ``store.due_for_erasure`` reads it).

Active means: enrolled (or promoted from a waitlist), present at a session (dropped-in
included), registered as a volunteer, joined a team, reactivated, completed a training,
confirmed a duty, logged hours, matched as peer supporter or supported, in a peer contact. The
day is the event's business date (a confirmed duty's: the day it was confirmed). Only the
latest day is kept: a voided entry or a corrected attendance record does not take it back, so
a correction keeps the data longer rather than erasing it early.
"""

from __future__ import annotations

import logging
from datetime import date
from uuid import UUID

from services.intake import store
from shared.kit.bus.consumer import EventHandler
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import AttendanceRecorded, EnrollmentCreated, EnrollmentPromoted
from shared.kit.contracts.volunteers import (
    AssignmentConfirmed,
    HoursLogged,
    PeerContactLogged,
    PeerMatchStarted,
    TrainingCompleted,
    VolunteerJoinedTeam,
    VolunteerReactivated,
    VolunteerRegistered,
)
from shared.kit.db.uow import UnitOfWork

log = logging.getLogger("carenet.intake.activity")


async def _active(uow: UnitOfWork, person_ids: list[UUID], on: date) -> None:
    await store.record_activity(uow.conn, await store.kept_people(uow.conn, person_ids), on)


async def _volunteer_active(
    uow: UnitOfWork, event: EventEnvelope, volunteer_id: UUID, on: date
) -> None:
    person_id = await store.volunteer_person(uow.conn, volunteer_id)
    if person_id is None:
        # Only when the stream no longer holds the registration: nothing to keep then.
        log.warning("%s %s: volunteer %s is not known here", event.type, event.id, volunteer_id)
        return
    await _active(uow, [person_id], on)


# --- groups ---------------------------------------------------------------------------------


async def on_attendance_recorded(
    uow: UnitOfWork, event: EventEnvelope, data: AttendanceRecorded
) -> None:
    await _active(uow, [*data.present, *data.dropped_in], data.date)


async def on_enrollment_created(
    uow: UnitOfWork, event: EventEnvelope, data: EnrollmentCreated
) -> None:
    await _active(uow, [data.person_id], data.enrolled_on)


async def on_enrollment_promoted(
    uow: UnitOfWork, event: EventEnvelope, data: EnrollmentPromoted
) -> None:
    await _active(uow, [data.person_id], data.promoted_on)


# --- volunteers -----------------------------------------------------------------------------


async def on_volunteer_registered(
    uow: UnitOfWork, event: EventEnvelope, data: VolunteerRegistered
) -> None:
    await store.remember_volunteer(uow.conn, data.volunteer_id, data.person_id)
    await _active(uow, [data.person_id], data.registered_on)


async def on_joined_team(uow: UnitOfWork, event: EventEnvelope, data: VolunteerJoinedTeam) -> None:
    await _volunteer_active(uow, event, data.volunteer_id, data.joined_on)


async def on_reactivated(uow: UnitOfWork, event: EventEnvelope, data: VolunteerReactivated) -> None:
    await _volunteer_active(uow, event, data.volunteer_id, data.on)


async def on_training_completed(
    uow: UnitOfWork, event: EventEnvelope, data: TrainingCompleted
) -> None:
    await _volunteer_active(uow, event, data.volunteer_id, data.completed_on)


async def on_duty_confirmed(
    uow: UnitOfWork, event: EventEnvelope, data: AssignmentConfirmed
) -> None:
    # The event carries no date: the day the volunteer confirmed, at the agency.
    on = event.time.astimezone(uow.zone).date()
    await _volunteer_active(uow, event, data.volunteer_id, on)


async def on_hours_logged(uow: UnitOfWork, event: EventEnvelope, data: HoursLogged) -> None:
    await _volunteer_active(uow, event, data.volunteer_id, data.date)


async def on_peer_match_started(
    uow: UnitOfWork, event: EventEnvelope, data: PeerMatchStarted
) -> None:
    await store.remember_peer_match(uow.conn, data.match_id, data.peer_volunteer_id, data.person_id)
    supporter = await store.volunteer_person(uow.conn, data.peer_volunteer_id)
    people = [data.person_id] if supporter is None else [supporter, data.person_id]
    await _active(uow, people, data.started_on)


async def on_peer_contact_logged(
    uow: UnitOfWork, event: EventEnvelope, data: PeerContactLogged
) -> None:
    await _active(uow, await store.peer_match_people(uow.conn, data.match_id), data.date)


GROUPS: dict[str, EventHandler] = {
    "groups.attendance.recorded": on_attendance_recorded,
    "groups.enrollment.created": on_enrollment_created,
    "groups.enrollment.promoted": on_enrollment_promoted,
}

VOLUNTEERS: dict[str, EventHandler] = {
    "volunteers.volunteer.registered": on_volunteer_registered,
    "volunteers.volunteer.joined_team": on_joined_team,
    "volunteers.volunteer.reactivated": on_reactivated,
    "volunteers.training.completed": on_training_completed,
    "volunteers.assignment.confirmed": on_duty_confirmed,
    "volunteers.hours.logged": on_hours_logged,
    "volunteers.peer_match.started": on_peer_match_started,
    "volunteers.peer_contact.logged": on_peer_contact_logged,
}
