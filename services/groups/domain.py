"""Groups' rules, in the agency's words. Plain Python: no I/O.

The rules are those of README.md's "Groups" section: schedules, clashes, eligibility, places
and the waitlist, attendance, and what happens when intake ends a case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from uuid import UUID

from shared.kit.contracts.groups import (
    MAX_SESSIONS_ON_A_SCHEDULE,
    EnrolmentStatus,
    ProgrammeType,
    Schedule,
)
from shared.kit.contracts.replies import CommandError, ErrorDetail

SessionStatus = Literal["scheduled", "cancelled", "held"]
EnrolmentState = Literal[EnrolmentStatus, "withdrawn"]

DEFAULT_SESSION_MINUTES = 60
"""A programme's first session added one by one lasts an hour unless told otherwise."""


def session_dates(schedule: Schedule) -> list[date]:
    """The dates a schedule expands to: once, daily, weekdays (Mon–Fri), weekly, fortnightly,
    or monthly on the first date's weekday and week of the month."""
    if schedule.repeat == "once":
        return [schedule.first_date]
    if schedule.repeat == "daily":
        return [schedule.first_date + timedelta(days=i) for i in range(schedule.count)]
    if schedule.repeat == "weekly":
        return [schedule.first_date + timedelta(weeks=i) for i in range(schedule.count)]
    if schedule.repeat == "fortnightly":
        return [schedule.first_date + timedelta(weeks=2 * i) for i in range(schedule.count)]
    if schedule.repeat == "monthly_by_weekday":
        return _monthly_by_weekday(schedule.first_date, schedule.count)
    found: list[date] = []
    day = schedule.first_date
    while len(found) < schedule.count:
        if day.weekday() < 5:
            found.append(day)
        day += timedelta(days=1)
    return found


def _monthly_by_weekday(first: date, count: int) -> list[date]:
    week = (first.day - 1) // 7  # 0 to 4; 4, the fifth week, is read as "the last"
    found = []
    for i in range(count):
        year, month = divmod(first.month - 1 + i, 12)
        month_start = date(first.year + year, month + 1, 1)
        if week < 4:
            day = month_start + timedelta(days=(first.weekday() - month_start.weekday()) % 7)
            found.append(day + timedelta(weeks=week))
        else:
            next_month = (month_start + timedelta(days=31)).replace(day=1)
            last = next_month - timedelta(days=1)
            found.append(last - timedelta(days=(last.weekday() - first.weekday()) % 7))
    return found


@dataclass(frozen=True)
class Slot:
    """A session's place in the calendar: when, where, and who runs it."""

    starts_at: datetime
    ends_at: datetime
    venue: str
    facilitators: tuple[str, ...]

    @classmethod
    def of(
        cls, day: date, start: time, duration_min: int, venue: str, facilitators: Iterable[str]
    ) -> Slot:
        starts_at = datetime.combine(day, start)
        return cls(
            starts_at, starts_at + timedelta(minutes=duration_min), venue, tuple(facilitators)
        )

    @property
    def day(self) -> date:
        return self.starts_at.date()

    @property
    def duration_min(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def overlaps(self, other: Slot) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


def clashes_within(slots: list[Slot]) -> None:
    """A new programme's own sessions must not overlap each other."""
    ordered = sorted(slots, key=lambda s: s.starts_at)
    for earlier, later in pairwise(ordered):
        if earlier.overlaps(later):
            raise CommandError(
                "validation_error",
                "the schedule's sessions overlap each other",
                schedule=f"{earlier.starts_at:%Y-%m-%d %H:%M} overlaps {later.starts_at:%H:%M}",
            )


@dataclass(frozen=True)
class Booking:
    """A session already in the calendar (not cancelled), as a new slot must respect it."""

    session_id: UUID
    site: str
    slot: Slot

    def clashes_with(self, slot: Slot, site: str) -> bool:
        """A venue is one site's room; a facilitator is one person wherever they work."""
        if not self.slot.overlaps(slot):
            return False
        same_venue = self.site == site and self.slot.venue == slot.venue
        return same_venue or bool(set(self.slot.facilitators) & set(slot.facilitators))


def refuse_clashes(slot: Slot, site: str, booked: Iterable[Booking]) -> None:
    """Refuse a slot at ``site`` whose venue or facilitators are booked at an overlapping time;
    the details name each clash."""
    details = []
    for other in (b for b in booked if b.clashes_with(slot, site)):
        when = f"{other.slot.starts_at:%Y-%m-%d %H:%M}"
        # Named whenever the venue's name is the same, as groups has always told staff.
        if other.slot.venue == slot.venue:
            details.append(
                ErrorDetail(
                    field="venue",
                    message=f"{slot.venue} is booked {when} (session {other.session_id})",
                )
            )
        for person in sorted(set(other.slot.facilitators) & set(slot.facilitators)):
            details.append(
                ErrorDetail(
                    field="facilitators",
                    message=f"{person} facilitates {when} (session {other.session_id})",
                )
            )
    if details:
        raise CommandError("conflict", "the session clashes with another booking", details)


@dataclass
class Session:
    """One meeting of a programme: scheduled, then cancelled or held (attendance taken)."""

    session_id: UUID
    programme_id: UUID
    programme_type: ProgrammeType
    site: str
    slot: Slot
    tags: tuple[str, ...] = ()
    status: SessionStatus = "scheduled"
    walk_ins: int = 0
    attendance_revision: int = 0

    def cancel(self) -> None:
        if self.status != "scheduled":
            raise CommandError.conflict(
                f"the session is already {self.status}", session_id="not scheduled"
            )
        self.status = "cancelled"

    def reschedule(
        self, day: date, start: time, duration_min: int | None, venue: str | None
    ) -> None:
        """Move the session; by default it keeps its length and venue, and its facilitators."""
        if self.status != "scheduled":
            raise CommandError.conflict(
                f"a session that is {self.status} cannot be moved", session_id=self.status
            )
        self.slot = Slot.of(
            day,
            start,
            duration_min or self.slot.duration_min,
            venue or self.slot.venue,
            self.slot.facilitators,
        )

    def record_attendance(
        self,
        present: Sequence[UUID],
        absent: Sequence[UUID],
        walk_ins: int,
        *,
        today: date,
        may_be_marked: set[UUID],
        dropped_in: Sequence[UUID] = (),
    ) -> Attendance:
        """Mark the session held; a later record replaces the earlier one.

        ``may_be_marked``: the people enrolled, and those who withdrew only after the
        session's day (attendance is often typed in after the fact). ``dropped_in``: people
        present without an enrolment, already cleared by ``Programme.admit_drop_ins``.
        """
        if self.status == "cancelled":
            raise CommandError.not_allowed("the session was cancelled", session_id="cancelled")
        if self.slot.day > today:
            raise CommandError.not_allowed(
                "attendance is taken on or after the session's date",
                session_id=f"on {self.slot.day.isoformat()}",
            )
        both = set(present) & set(absent)
        if both:
            raise CommandError(
                "validation_error",
                "a person cannot be both present and absent",
                [ErrorDetail(field="absent", message=str(p)) for p in sorted(both, key=str)],
            )
        listed_twice = set(dropped_in) & (set(present) | set(absent))
        if listed_twice:
            raise CommandError(
                "validation_error",
                "a person who dropped in is listed only in dropped_in",
                [
                    ErrorDetail(field="dropped_in", message=str(p))
                    for p in sorted(listed_twice, key=str)
                ],
            )
        enrolled = [p for p in dict.fromkeys(dropped_in) if p in may_be_marked]
        if enrolled:
            raise CommandError(
                "validation_error",
                "these people are enrolled: mark them in present or absent",
                [ErrorDetail(field="dropped_in", message=str(p)) for p in enrolled],
            )
        listed = dict.fromkeys([*present, *absent])
        strangers = [p for p in listed if p not in may_be_marked]
        if strangers:
            raise CommandError(
                "not_allowed",
                "only people enrolled in the programme are marked present or absent; "
                "mark registered people who came without enrolling in dropped_in, "
                "count others as walk-ins",
                [ErrorDetail(field="present", message=str(p)) for p in strangers],
            )
        self.status = "held"
        self.walk_ins = walk_ins
        self.attendance_revision += 1
        drop_ins = list(dict.fromkeys(dropped_in))
        return Attendance(
            present=[*dict.fromkeys(present), *drop_ins],
            absent=list(dict.fromkeys(absent)),
            walk_ins=walk_ins,
            revision=self.attendance_revision,
            dropped_in=drop_ins,
        )


@dataclass(frozen=True)
class Attendance:
    """Who came to a session, as recorded for the ``revision``-th time."""

    present: list[UUID]
    absent: list[UUID]
    walk_ins: int
    revision: int
    dropped_in: list[UUID] = field(default_factory=list)
    """Those of ``present`` who came without an enrolment: credited like everyone present."""

    @property
    def first(self) -> bool:
        """The first record is when the session became held."""
        return self.revision == 1

    @property
    def replaces(self) -> bool:
        return self.revision > 1


@dataclass(frozen=True)
class Withdrawal:
    was: EnrolmentStatus

    @property
    def frees_a_place(self) -> bool:
        """Only someone enrolled held a place; someone waiting just leaves the queue."""
        return self.was == "enrolled"


@dataclass
class Enrolment:
    """A person's place in a programme, or their turn on its waitlist."""

    enrollment_id: UUID
    programme_id: UUID
    person_id: UUID
    site: str
    status: EnrolmentState

    def withdraw(self) -> Withdrawal:
        if self.status == "withdrawn":
            raise CommandError.conflict("already withdrawn", enrollment_id="already withdrawn")
        withdrawal = Withdrawal(was=self.status)
        self.status = "withdrawn"
        return withdrawal

    def promote(self) -> None:
        """The first one waiting takes a freed place."""
        assert self.status == "waitlisted", self.status
        self.status = "enrolled"


@dataclass
class Programme:
    """A group, talk, class or meeting, with its places; capacity 0 takes walk-ins only."""

    programme_id: UUID
    site: str
    type: ProgrammeType
    capacity: int
    requires_case: bool = False
    target_roles: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    facilitators: tuple[str, ...] = ()
    venue: str = ""
    title: str = ""
    places_taken: int = 0
    """People enrolled (not waiting); counted only when the programme is loaded for its
    places."""
    schedule: Schedule | None = None
    """How its sessions repeat, with the count made so far (None: created before groups kept
    it)."""

    def extend(self, count: int) -> list[date]:
        """The dates of ``count`` more sessions on the schedule, after those it made; the
        schedule then counts them."""
        if self.schedule is None:
            raise CommandError.not_allowed(
                "this programme has no schedule on record: add sessions with schedule_session",
                programme_id="no schedule",
            )
        if self.schedule.repeat == "once":
            raise CommandError.not_allowed(
                "a programme that meets once has no schedule to extend: add sessions with "
                "schedule_session",
                programme_id="meets once",
            )
        room = MAX_SESSIONS_ON_A_SCHEDULE - self.schedule.count
        if count > room:
            raise CommandError(
                "validation_error",
                f"a schedule makes at most {MAX_SESSIONS_ON_A_SCHEDULE} sessions",
                count=f"at most {room} more",
            )
        longer = self.schedule.model_copy(update={"count": self.schedule.count + count})
        dates = session_dates(longer)[self.schedule.count :]
        self.schedule = longer
        return dates

    def change_capacity(self, capacity: int, waiting: int) -> int:
        """Set the places; what they were. Nobody enrolled loses their place to a cut, but
        capacity 0 (no enrolment) needs nobody enrolled or ``waiting``."""
        if capacity == 0 and (self.places_taken or waiting):
            raise CommandError.conflict(
                "capacity 0 takes no enrolments: withdraw the people enrolled or waiting first",
                capacity=f"{self.places_taken} enrolled, {waiting} waiting",
            )
        was, self.capacity = self.capacity, capacity
        return was

    def fill_free_places(self, waiting: Iterable[Enrolment]) -> list[Enrolment]:
        """The places free go to those ``waiting``, in their order; those promoted."""
        promoted = []
        for enrolment in waiting:
            if not self.has_free_place():
                break
            enrolment.promote()
            self.places_taken += 1
            promoted.append(enrolment)
        return promoted

    def check_eligible(self, roles: list[str] | None, has_open_case_here: bool) -> None:
        if roles is None:
            raise CommandError(
                "not_found",
                "this person is not known to groups (registered in intake? it may take a moment)",
                person_id="unknown person",
            )
        if self.capacity == 0:
            raise CommandError.not_allowed(
                "this programme takes walk-ins only, no enrolment", programme_id="walk-ins only"
            )
        if not self.requires_case:
            return
        if not has_open_case_here:
            raise CommandError.not_allowed(
                "this programme needs an open case at this site", person_id="no open case here"
            )
        if self.target_roles and not set(roles) & set(self.target_roles):
            raise CommandError.not_allowed(
                f"this programme is for {', '.join(self.target_roles)}",
                person_id=f"roles {', '.join(roles) or 'none'}",
            )

    def admit_drop_ins(self, roles: Mapping[UUID, list[str] | None]) -> None:
        """Registered people may be marked present without enrolling, at a programme that
        needs no case, when they have one of its target roles (if it names any). ``roles``:
        each person's roles as groups knows them (None: not known)."""
        if not roles:
            return
        if self.requires_case:
            raise CommandError.not_allowed(
                "this programme needs an open case and an enrolment: nobody drops in",
                dropped_in="programme requires a case",
            )
        unknown = [p for p, r in roles.items() if r is None]
        if unknown:
            raise CommandError(
                "not_found",
                "these people are not known to groups (registered in intake? it may take a moment)",
                [ErrorDetail(field="dropped_in", message=f"unknown person {p}") for p in unknown],
            )
        if not self.target_roles:
            return
        lacking = [p for p, r in roles.items() if not set(r or ()) & set(self.target_roles)]
        if lacking:
            raise CommandError(
                "not_allowed",
                f"this programme is for {', '.join(self.target_roles)}",
                [
                    ErrorDetail(
                        field="dropped_in",
                        message=f"{p} has roles {', '.join(roles[p] or ()) or 'none'}",
                    )
                    for p in lacking
                ],
            )

    def has_free_place(self) -> bool:
        return self.places_taken < self.capacity

    def enrol(
        self,
        enrollment_id: UUID,
        person_id: UUID,
        roles: list[str] | None,
        has_open_case_here: bool,
        *,
        may_share: bool = True,
    ) -> Enrolment:
        """Beyond capacity, a newcomer waits in order. ``may_share``: the person is of this
        site (or one above it), or has given ``data_sharing`` consent."""
        self.check_eligible(roles, has_open_case_here)
        refuse_without_consent_to_share([] if may_share else [person_id], "person_id")
        if not self.has_free_place():
            return Enrolment(enrollment_id, self.programme_id, person_id, self.site, "waitlisted")
        self.places_taken += 1
        return Enrolment(enrollment_id, self.programme_id, person_id, self.site, "enrolled")

    def fill_freed_place(self, first_waiting: Enrolment | None) -> Enrolment | None:
        """A place freed by a withdrawal goes to the first one waiting, if any is waiting and
        the programme has a place free; the enrolment promoted."""
        if first_waiting is None or not self.has_free_place():
            return None
        first_waiting.promote()
        self.places_taken += 1
        return first_waiting

    def session(self, session_id: UUID, slot: Slot) -> Session:
        """A new session of this programme, scheduled in ``slot``."""
        return Session(session_id, self.programme_id, self.type, self.site, slot, self.tags)

    def next_slot(
        self,
        day: date,
        start: time,
        duration_min: int | None,
        venue: str | None,
        facilitators: Iterable[str] | None,
        latest_length: int | None,
    ) -> Slot:
        """A session added on its own: by default as long as the latest one, at the
        programme's venue, with its facilitators."""
        return Slot.of(
            day,
            start,
            duration_min
            or (latest_length if latest_length is not None else DEFAULT_SESSION_MINUTES),
            venue or self.venue,
            facilitators if facilitators is not None else self.facilitators,
        )


def refuse_without_consent_to_share(people: list[UUID], field: str) -> None:
    """People of another site are put on this site's rosters only with their ``data_sharing``
    consent (``Organisation.shares_beyond``): ``people`` are those without it."""
    if people:
        raise CommandError(
            "consent_required",
            "these people are of another site and have not given consent for their data to be "
            "shared with this one",
            [ErrorDetail(field=field, message=f"{p} no data_sharing consent") for p in people],
        )


def ended_with_consent(
    active: Iterable[tuple[Enrolment, date | None]], on: date
) -> list[Enrolment]:
    """The enrolments withdrawn when the person withdraws their ``service`` consent: enrolled
    or waiting, at any site, in programmes still meeting (a scheduled session on or after
    ``on``); those of programmes over stay as they were."""
    return [e for e, last in active if last is not None and last >= on]


def ended_with_case(
    active: Iterable[tuple[Enrolment, date | None]], on: date, *, another_case_here: bool
) -> list[Enrolment]:
    """The enrolments withdrawn when a person's case at a site is closed or transferred away:
    those at that site in programmes still meeting (a scheduled session on or after ``on``),
    unless the person still has another open case there.

    ``active``: the person's enrolled or waiting enrolments at the site, each with the day of
    its programme's last scheduled session (None when none is scheduled).
    """
    if another_case_here:
        return []
    return [e for e, last in active if last is not None and last >= on]


def attendance_rate(attended: int, held: int) -> float:
    return 0.0 if held == 0 else attended / held


def completed(attended: int, held: int, required_share: float) -> bool:
    """Completed: present at least ``required_share`` of the sessions held (none held, none
    completed)."""
    return held > 0 and attendance_rate(attended, held) >= required_share
