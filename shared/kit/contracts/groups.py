"""Groups' public API: programmes, their sessions, enrolments with waitlists, and attendance."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.kit.contracts.catalogue import command, event, query
from shared.kit.contracts.intake import Role
from shared.kit.contracts.messages import (
    MAX_PEOPLE,
    BusinessCommand,
    Command,
    EventData,
    Label,
    Name,
    Query,
)
from shared.kit.identity.access import CASEWORK, MANAGERS, PROGRAMMES

ProgrammeType = Literal[
    "support_group",
    "parent_child_group",
    "psychoeducation_talk",
    "outing",
    "family_gathering",
    "forum",
    "training_programme",
    "house_meeting",
    "work_unit",
    "interest_class",
    "seminar",
    "conference",
    "community_event",
]
Repeat = Literal["once", "daily", "weekdays", "weekly", "fortnightly", "monthly_by_weekday"]
"""``monthly_by_weekday``: on the first date's weekday and week of the month (the second
Tuesday, say); a first date in the month's fifth week means that weekday's last."""
EnrolmentStatus = Literal["enrolled", "waitlisted"]
WithdrawalReason = Literal["withdrawn", "case_closed", "case_transferred", "consent_withdrawn"]
"""``consent_withdrawn``: the person withdrew their ``service`` consent."""
Tag = Label


class Schedule(BaseModel):
    """How a programme's sessions repeat, in the organisation's time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_date: dt.date
    start_time: dt.time
    duration_min: int = Field(ge=5, le=12 * 60)
    repeat: Repeat = "once"
    count: int = Field(default=1, ge=1, le=366)

    @model_validator(mode="after")
    def _once_is_one(self) -> Schedule:
        if self.repeat == "once" and self.count != 1:
            raise ValueError("a schedule that happens once has count 1")
        return self


# --- commands -------------------------------------------------------------------------------


@command("groups", "create_programme", access=CASEWORK)
class CreateProgramme(Command):
    title: str = Field(min_length=1, max_length=200)
    type: ProgrammeType
    target_roles: list[Role] = Field(default_factory=list, max_length=10)
    capacity: int = Field(ge=0, le=10000, description="0: no enrolment, walk-ins only")
    requires_case: bool = False
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    facilitators: list[Name] = Field(default_factory=list, max_length=20)
    venue: str = Field(min_length=1, max_length=200)
    schedule: Schedule

    @field_validator("tags")
    @classmethod
    def _tag_codes(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not tag or not all(ch.islower() or ch.isdigit() or ch == "_" for ch in tag):
                raise ValueError(f"tag {tag!r} must be a snake_case code")
        return list(dict.fromkeys(tags))


@command("groups", "schedule_session", access=CASEWORK)
class ScheduleSession(Command):
    programme_id: UUID
    date: dt.date
    start_time: dt.time
    duration_min: int | None = Field(default=None, ge=5, le=12 * 60)
    venue: str | None = Field(default=None, min_length=1, max_length=200)
    facilitators: list[Name] | None = Field(default=None, max_length=20)


@command("groups", "cancel_session", access=CASEWORK)
class CancelSession(Command):
    session_id: UUID
    reason: str = Field(min_length=1, max_length=500)


@command("groups", "reschedule_session", access=CASEWORK)
class RescheduleSession(Command):
    session_id: UUID
    date: dt.date
    start_time: dt.time
    duration_min: int | None = Field(default=None, ge=5, le=12 * 60)
    venue: str | None = Field(default=None, min_length=1, max_length=200)


MAX_SESSIONS_ON_A_SCHEDULE = 366


@command("groups", "extend_programme", access=CASEWORK)
class ExtendProgramme(Command):
    """``count`` more sessions on the programme's schedule, after those it has (at its venue,
    with its facilitators; clashes refused as for any session)."""

    programme_id: UUID
    count: int = Field(ge=1, le=MAX_SESSIONS_ON_A_SCHEDULE)


@command("groups", "change_capacity", access=CASEWORK)
class ChangeCapacity(BusinessCommand):
    """A raise promotes the waitlist in order. A cut below the people enrolled keeps them all
    enrolled and only makes newcomers wait; 0 (no enrolment) needs nobody enrolled or
    waiting."""

    programme_id: UUID
    capacity: int = Field(ge=0, le=10000)


@command("groups", "enrol", access=CASEWORK)
class Enrol(BusinessCommand):
    programme_id: UUID
    person_id: UUID


@command("groups", "withdraw", access=CASEWORK)
class Withdraw(BusinessCommand):
    enrollment_id: UUID


@command("groups", "record_attendance", access=CASEWORK)
class RecordAttendance(Command):
    """Attendance for a session; its business date is the session's date."""

    session_id: UUID
    present: list[UUID] = Field(default_factory=list, max_length=MAX_PEOPLE)
    absent: list[UUID] = Field(default_factory=list, max_length=MAX_PEOPLE)
    walk_ins: int = Field(default=0, ge=0, le=10000)
    dropped_in: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_PEOPLE,
        description="registered people present without an enrolment (a programme that needs "
        "no case, and has none of its target roles they lack)",
    )

    @model_validator(mode="after")
    def _one_list_of_people(self) -> RecordAttendance:
        # The lists travel in one attendance.recorded event, which must stay publishable.
        if len(self.present) + len(self.absent) + len(self.dropped_in) > MAX_PEOPLE:
            raise ValueError(
                f"present, absent and dropped_in name at most {MAX_PEOPLE} people together"
            )
        return self


# --- queries --------------------------------------------------------------------------------


@query("groups", "programme", access=PROGRAMMES)
class ProgrammeQuery(Query):
    programme_id: UUID


@query("groups", "programmes", access=PROGRAMMES)
class ProgrammesQuery(Query):
    """The programmes at the site (and its child sites), by title: their places, enrolled and
    waitlisted counts, and their first, last and next session dates (sessions not cancelled).
    A programme has ended when none of its sessions is today or later."""

    include_ended: bool = False


@query("groups", "waitlist", access=CASEWORK)
class WaitlistQuery(Query):
    """A programme's waitlisted enrolments in the order they would be promoted (ids only)."""

    programme_id: UUID


@query("groups", "roster", access=CASEWORK)
class RosterQuery(Query):
    """A session's enrolled people and their attendance, with names from intake (read with the
    caller's token, so each name read is in intake's access log under the caller's sub)."""

    session_id: UUID


@query("groups", "completion", access=CASEWORK)
class CompletionQuery(Query):
    programme_id: UUID


MAX_CALENDAR_DAYS = 366


@query("groups", "calendar", access=PROGRAMMES)
class CalendarQuery(Query):
    """A site's sessions (and its child sites') from ``from`` to ``to``, both included, in
    time order: programme title and type, venue, facilitators, status."""

    from_date: dt.date = Field(alias="from")
    to_date: dt.date = Field(alias="to")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _a_range(self) -> CalendarQuery:
        if self.to_date < self.from_date:
            raise ValueError("to is on or after from")
        if (self.to_date - self.from_date).days >= MAX_CALENDAR_DAYS:
            raise ValueError(f"a calendar spans at most {MAX_CALENDAR_DAYS} days")
        return self


@query("groups", "person_enrolments", access=CASEWORK)
class PersonEnrolmentsQuery(Query):
    """A person's enrolments at the site (and its child sites), and the sessions they were
    marked at (present, absent or dropped in), newest first."""

    person_id: UUID


# --- events ---------------------------------------------------------------------------------


@event("groups.programme.created")
class ProgrammeCreated(EventData):
    """A programme was set up (its sessions follow as session.scheduled)."""

    programme_id: UUID
    type: ProgrammeType
    target_roles: list[str]
    capacity: int
    requires_case: bool
    tags: list[str]
    facilitators: list[str]


@event("groups.programme.capacity_changed")
class ProgrammeCapacityChanged(EventData):
    """A programme's places changed (promotions from the waitlist follow as
    enrollment.promoted)."""

    programme_id: UUID
    capacity: int
    was: int
    changed_on: dt.date


@event("groups.session.scheduled")
class SessionScheduled(EventData):
    """A session was put on the calendar, or moved (``rescheduled`` is then true)."""

    session_id: UUID
    programme_id: UUID
    programme_type: ProgrammeType
    date: dt.date
    start_time: dt.time
    duration_min: int
    venue: str
    facilitators: list[str]
    tags: list[str] = Field(default_factory=list)
    rescheduled: bool = False


@event("groups.session.cancelled")
class SessionCancelled(EventData):
    """A session was cancelled (the reason text stays in groups)."""

    session_id: UUID
    programme_id: UUID
    programme_type: ProgrammeType
    date: dt.date


@event("groups.session.held")
class SessionHeld(EventData):
    """Attendance was first recorded for a session, so it counts as held."""

    session_id: UUID
    programme_id: UUID
    programme_type: ProgrammeType
    date: dt.date


# The three enrolment events keep the spelling they were published with, in their types, their
# enrollment_id field and their schema names (docs/asyncapi.json); prose and code say enrolment.
@event("groups.enrollment.created")
class EnrollmentCreated(EventData):
    """A person was enrolled, or put on the waitlist."""

    enrollment_id: UUID
    programme_id: UUID
    programme_type: ProgrammeType
    person_id: UUID
    status: EnrolmentStatus
    enrolled_on: dt.date


@event("groups.enrollment.promoted")
class EnrollmentPromoted(EventData):
    """The first person on the waitlist took a place that came free."""

    enrollment_id: UUID
    programme_id: UUID
    person_id: UUID
    promoted_on: dt.date


@event("groups.enrollment.withdrawn")
class EnrollmentWithdrawn(EventData):
    """An enrolment ended: withdrawn by staff, because the person's case closed or moved, or
    because they withdrew their ``service`` consent."""

    enrollment_id: UUID
    programme_id: UUID
    person_id: UUID
    reason: WithdrawalReason
    was: EnrolmentStatus
    withdrawn_on: dt.date


@event("groups.attendance.recorded")
class AttendanceRecorded(EventData):
    """Who came to a session. ``revision`` above 1 replaces the earlier record entirely.
    ``present`` includes those who dropped in; ``dropped_in`` names them again."""

    session_id: UUID
    programme_id: UUID
    programme_type: ProgrammeType
    tags: list[str] = Field(default_factory=list)
    date: dt.date
    present: list[UUID]
    absent: list[UUID]
    walk_ins: int
    revision: int
    replaces: bool
    dropped_in: list[UUID] = Field(default_factory=list)


# --- access requests (issue 17) -------------------------------------------------------------


@query("groups", "person_data", access=MANAGERS)
class PersonDataQuery(Query):
    """What groups holds about a person at the site and below it, for an access request.

    Intake's ``subject_access_export`` asks it: enrolments, attendance, the roles and
    open cases groups learnt from intake, and the duplicates merged into the person. A person
    groups knows nothing of gets empty lists, not ``not_found``."""

    person_id: UUID
