"""Groups' rules, in the agency's words. Plain Python: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from uuid import UUID

from shared.kit.contracts.groups import Schedule
from shared.kit.contracts.replies import CommandError, ErrorDetail


def session_dates(schedule: Schedule) -> list[date]:
    """The dates a schedule expands to: once, daily, weekdays (Mon–Fri) or weekly."""
    if schedule.repeat == "once":
        return [schedule.first_date]
    if schedule.repeat == "daily":
        return [schedule.first_date + timedelta(days=i) for i in range(schedule.count)]
    if schedule.repeat == "weekly":
        return [schedule.first_date + timedelta(weeks=i) for i in range(schedule.count)]
    found: list[date] = []
    day = schedule.first_date
    while len(found) < schedule.count:
        if day.weekday() < 5:
            found.append(day)
        day += timedelta(days=1)
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


@dataclass
class Clash:
    session_id: UUID
    starts_at: datetime
    venue: str
    facilitators: tuple[str, ...]


def refuse_clashes(slot: Slot, booked: list[Clash]) -> None:
    """Refuse a slot whose venue or facilitators are booked at an overlapping time."""
    details = []
    for other in booked:
        if other.venue == slot.venue:
            details.append(
                ErrorDetail(
                    field="venue",
                    message=f"{slot.venue} is booked {other.starts_at:%Y-%m-%d %H:%M} "
                    f"(session {other.session_id})",
                )
            )
        for person in sorted(set(other.facilitators) & set(slot.facilitators)):
            details.append(
                ErrorDetail(
                    field="facilitators",
                    message=f"{person} facilitates {other.starts_at:%Y-%m-%d %H:%M} "
                    f"(session {other.session_id})",
                )
            )
    if details:
        raise CommandError("conflict", "the session clashes with another booking", details)


@dataclass
class Programme:
    programme_id: UUID
    site: str
    capacity: int
    requires_case: bool
    target_roles: tuple[str, ...]

    def check_eligible(self, roles: list[str] | None, has_open_case_here: bool) -> None:
        if roles is None:
            raise CommandError(
                "not_found",
                "this person is not known to groups (registered in intake? it may take a moment)",
                person_id="unknown person",
            )
        if self.capacity == 0:
            raise CommandError(
                "not_allowed",
                "this programme takes walk-ins only, no enrolment",
                programme_id="walk-ins only",
            )
        if not self.requires_case:
            return
        if not has_open_case_here:
            raise CommandError(
                "not_allowed",
                "this programme needs an open case at this site",
                person_id="no open case here",
            )
        if self.target_roles and not set(roles) & set(self.target_roles):
            raise CommandError(
                "not_allowed",
                f"this programme is for {', '.join(self.target_roles)}",
                person_id=f"roles {', '.join(roles) or 'none'}",
            )

    def status_for_newcomer(self, enrolled: int) -> str:
        """Beyond capacity, a newcomer waits in order."""
        return "enrolled" if enrolled < self.capacity else "waitlisted"


def attendance_rate(attended: int, held: int) -> float:
    return 0.0 if held == 0 else attended / held
