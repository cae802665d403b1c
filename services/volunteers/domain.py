"""Volunteers' rules, in the agency's words. Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from uuid import UUID, uuid4

from shared.kit.contracts.intake import SERVICE_USER_ROLES
from shared.kit.contracts.replies import CommandError, ErrorCode, ErrorDetail

PEER_TEAM_DEFAULT = "peer_supporters"
STANDING = ("proposed", "confirmed")
"""A duty in one of these states still stands: it fills a place and its hours may be logged."""


@dataclass(frozen=True)
class TeamRules:
    """Per team: the courses a volunteer needs before being active in it (configuration)."""

    requires: dict[str, tuple[str, ...]] = field(default_factory=dict)
    peer_team: str = PEER_TEAM_DEFAULT

    @classmethod
    def from_organisation(cls, extra: dict[str, Any] | None) -> TeamRules:
        teams = (extra or {}).get("teams", {})
        if not isinstance(teams, dict):
            raise ValueError("[teams] must be a table of team codes")
        requires = {}
        for code, table in teams.items():
            courses = table.get("requires", []) if isinstance(table, dict) else None
            if not isinstance(courses, list) or not all(isinstance(c, str) for c in courses):
                raise ValueError(f"[teams.{code}] requires must be a list of course codes")
            requires[code] = tuple(courses)
        peer_team = (extra or {}).get("peer_team", PEER_TEAM_DEFAULT)
        return cls(requires, str(peer_team))

    def active_teams(self, teams: list[str], completed: set[str]) -> list[str]:
        return [t for t in teams if set(self.requires.get(t, ())) <= completed]

    def missing_courses(self, team: str, completed: set[str]) -> list[str]:
        return [c for c in self.requires.get(team, ()) if c not in completed]


def is_service_user(roles: list[str]) -> bool:
    return bool(set(roles) & SERVICE_USER_ROLES)


@dataclass(frozen=True)
class Slot:
    weekday: int
    start: time
    end: time


def available(slots: list[Slot], unavailable: set[date], starts: datetime, ends: datetime) -> bool:
    """Inside one of the weekly slots on that weekday, and not a date they said they can't."""
    if starts.date() in unavailable or starts.date() != ends.date():
        return False
    return any(
        s.weekday == starts.weekday() and s.start <= starts.time() and ends.time() <= s.end
        for s in slots
    )


DUTY_WINDOW_DAYS = 90
"""How far around a session's day a volunteer's hours count towards their share of duties."""


@dataclass
class Candidate:
    """A volunteer as the duty pick sees them. ``recent_minutes``: hours logged in the window
    before the session; ``assigned_minutes``: duties standing in the window either side of it
    whose hours are not logged yet (so the sessions of a weekly group rotate)."""

    volunteer_id: UUID
    teams: list[str]
    skills: set[str]
    completed: set[str]
    slots: list[Slot]
    unavailable: set[date]
    booked_overlapping: bool
    recent_minutes: int
    assigned_minutes: int = 0
    active: bool = True
    may_share: bool = True
    """The session's site is the volunteer's home site or below it, or they have given
    ``data_sharing`` consent."""

    @property
    def share(self) -> int:
        """The minutes of duty this volunteer already has: the fewest are picked first."""
        return self.recent_minutes + self.assigned_minutes


PASSED_OVER: dict[str, str] = {
    "no_consent_to_share": "the volunteer is of another site and has not given consent for "
    "their data to be shared with this one",
    "inactive": "the volunteer is marked inactive",
    "not_in_team": "the volunteer is in none of the teams asked for",
    "not_trained": "the volunteer has not completed the courses the team requires",
    "missing_skills": "the volunteer lacks a skill the duty needs",
    "not_available": "the volunteer is not available at the session's time",
    "already_booked": "the volunteer is already on a duty at an overlapping time",
}
"""Why a volunteer is not fit for a duty, in the order the checks run."""


def unfit(
    c: Candidate,
    *,
    rules: TeamRules,
    teams: list[str] | None,
    skills: list[str],
    starts: datetime,
    ends: datetime,
) -> str | None:
    """The first check the volunteer fails for this duty (a key of ``PASSED_OVER``), or None."""
    if not c.may_share:
        return "no_consent_to_share"
    if not c.active:
        return "inactive"
    active = rules.active_teams(c.teams, c.completed)
    if not [t for t in active if teams is None or t in teams]:
        in_team = teams is None or set(c.teams) & set(teams)
        return "not_trained" if in_team else "not_in_team"
    if not set(skills) <= c.skills:
        return "missing_skills"
    if not available(c.slots, c.unavailable, starts, ends):
        return "not_available"
    if c.booked_overlapping:
        return "already_booked"
    return None


def pick(
    candidates: list[Candidate],
    *,
    rules: TeamRules,
    teams: list[str] | None,
    skills: list[str],
    starts: datetime,
    ends: datetime,
    needed: int,
) -> tuple[list[UUID], dict[str, int]]:
    """Choose who does a duty: active, suitable, trained, available, free; the smallest share
    of duty first (hours logged recently and duties assigned but not yet logged).

    Returns the chosen volunteer ids and, for those passed over, how many for each reason.
    """
    reasons: dict[str, int] = {}
    suitable: list[Candidate] = []
    for c in candidates:
        reason = unfit(c, rules=rules, teams=teams, skills=skills, starts=starts, ends=ends)
        if reason is None:
            suitable.append(c)
        else:
            reasons[reason] = reasons.get(reason, 0) + 1
    suitable.sort(key=lambda c: (c.share, str(c.volunteer_id)))
    return [c.volunteer_id for c in suitable[:needed]], reasons


def check_named(
    c: Candidate,
    *,
    rules: TeamRules,
    teams: list[str] | None,
    skills: list[str],
    starts: datetime,
    ends: datetime,
) -> None:
    """A coordinator's own choice for a duty passes the same checks as a pick; else
    ``not_allowed`` naming the check that failed (detail ``volunteer_id``: its key)."""
    reason = unfit(c, rules=rules, teams=teams, skills=skills, starts=starts, ends=ends)
    if reason == "no_consent_to_share":
        raise CommandError("consent_required", PASSED_OVER[reason], volunteer_id=reason)
    if reason is not None:
        raise CommandError.not_allowed(PASSED_OVER[reason], volunteer_id=reason)


@dataclass
class Volunteer:
    """A person registered in intake who gives time: their teams in the order joined (the
    first is where their hours go by default) and the courses they completed."""

    volunteer_id: UUID
    person_id: UUID
    site: str
    registered_on: date
    skills: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    courses: set[str] = field(default_factory=set)
    active: bool = True

    @classmethod
    def register(
        cls,
        person_id: UUID,
        site: str,
        *,
        teams: list[str],
        skills: list[str],
        languages: list[str],
        on: date,
    ) -> Volunteer:
        return cls(
            volunteer_id=uuid4(),
            person_id=person_id,
            site=site,
            registered_on=on,
            skills=sorted(set(skills)),
            languages=list(dict.fromkeys(languages)),
            teams=list(dict.fromkeys(teams)),
        )

    def join(self, team: str) -> None:
        if team in self.teams:
            raise CommandError.conflict("already in that team", team="already a member")
        self.teams.append(team)

    def mark_active(self, active: bool) -> None:
        """An inactive volunteer is never picked nor named for a duty until marked active."""
        if self.active == active:
            state = "active" if active else "inactive"
            raise CommandError.conflict(f"the volunteer is already {state}", volunteer_id=state)
        self.active = active

    def complete(self, course: str) -> None:
        self.courses.add(course)

    def active_teams(self, rules: TeamRules) -> list[str]:
        return rules.active_teams(self.teams, self.courses)

    def is_peer_supporter(self, rules: TeamRules) -> bool:
        """Active, so trained, in the team whose members may be matched one to one."""
        return rules.peer_team in self.active_teams(rules)

    def team_for_hours(self, team: str | None) -> str:
        chosen = team or self.teams[0]
        if chosen not in self.teams:
            raise CommandError(
                "validation_error", "the volunteer is not in that team", team="not a member"
            )
        return chosen


@dataclass(frozen=True)
class KnownSession:
    """A group session as groups announced it: where and when."""

    session_id: UUID
    site: str
    starts_at: datetime
    ends_at: datetime
    cancelled: bool = False

    @property
    def day(self) -> date:
        return self.starts_at.date()

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


def session_for_duties(session: KnownSession | None, site: str) -> KnownSession:
    """The session whose duties are to be filled at ``site``: known here and not cancelled."""
    if session is None or session.site != site:
        raise CommandError(
            "not_found",
            "no such session here (scheduled in groups? it may take a moment)",
            session_id="unknown session",
        )
    if session.cancelled:
        raise CommandError.not_allowed("the session was cancelled", session_id="cancelled")
    return session


def minutes_given(minutes: int | None, duty_session: KnownSession | None) -> int:
    """The minutes a volunteer gave: as told, else the length of the duty's session."""
    if minutes is not None:
        return minutes
    if duty_session is None:
        raise CommandError(
            "validation_error", "minutes are needed without an assignment", minutes="required"
        )
    return duty_session.minutes


def still_needed(count: int, already: int) -> int:
    """Places a request for ``count`` still has to fill when ``already`` duties stand."""
    return max(count - already, 0)


@dataclass
class Assignment:
    """A volunteer's duty at a session: proposed, then confirmed or declined (or cancelled
    with the session)."""

    assignment_id: UUID
    volunteer_id: UUID
    session_id: UUID
    role: str
    site: str
    status: str = "proposed"

    @classmethod
    def propose(cls, volunteer_id: UUID, session: KnownSession, role: str) -> Assignment:
        return cls(uuid4(), volunteer_id, session.session_id, role, session.site)

    def _refusal(self, code: ErrorCode) -> CommandError:
        return CommandError(code, f"the assignment is {self.status}", assignment_id=self.status)

    def confirm(self) -> None:
        if self.status != "proposed":
            raise self._refusal("conflict")
        self.status = "confirmed"

    def decline(self) -> None:
        if self.status not in STANDING:
            raise self._refusal("conflict")
        self.status = "declined"

    def check_hours_by(self, volunteer_id: UUID) -> None:
        """Hours for a duty are the duty's own volunteer's, and only while the duty stands."""
        if self.volunteer_id != volunteer_id:
            raise CommandError(
                "validation_error",
                "that duty belongs to another volunteer",
                assignment_id="another volunteer's",
            )
        if self.status not in STANDING:
            raise self._refusal("not_allowed")


@dataclass
class PeerMatch:
    """A trained peer supporter matched one to one with a service user, from ``started_on``
    until it ends."""

    match_id: UUID
    peer_volunteer_id: UUID
    person_id: UUID
    site: str
    started_on: date
    status: str = "open"
    ended_on: date | None = None
    end_reason: str | None = None

    @classmethod
    def start(
        cls,
        peer: Volunteer,
        person_id: UUID,
        *,
        rules: TeamRules,
        person_known: bool,
        service_consent: bool,
        linked_as_carers: bool,
        site: str,
        on: date,
        person_may_share: bool = True,
        peer_may_share: bool = True,
    ) -> PeerMatch:
        """A peer is never matched with themselves, their carer or someone they care for, and
        the person must have given consent for service. A person or peer of another site
        (``Organisation.shares_beyond``) is matched here only with their ``data_sharing``
        consent."""
        if not peer.is_peer_supporter(rules):
            raise CommandError.not_allowed(
                "the volunteer is not an active, trained peer supporter",
                peer_volunteer_id="not an active peer supporter",
            )
        if not person_known:
            raise CommandError("not_found", "no such person", person_id="unknown person")
        if person_id == peer.person_id:
            raise CommandError.not_allowed(
                "a peer supporter is never matched with themselves", person_id="self"
            )
        if linked_as_carers:
            raise CommandError.not_allowed(
                "a peer supporter is never matched with their own carer "
                "or the person they care for",
                person_id="family link",
            )
        if not service_consent:
            raise CommandError(
                "consent_required",
                "the person has not given consent for service",
                person_id="no service consent",
            )
        refused = [
            ErrorDetail(field=f, message="no data_sharing consent")
            for f, ok in (("person_id", person_may_share), ("peer_volunteer_id", peer_may_share))
            if not ok
        ]
        if refused:
            raise CommandError(
                "consent_required",
                "a person of another site is matched here only with their consent for their "
                "data to be shared with this site",
                refused,
            )
        return cls(uuid4(), peer.volunteer_id, person_id, site, on)

    def end_for_withdrawn_consent(self, on: date) -> bool:
        """End an open match because the person withdrew their ``service`` consent, on ``on`` or,
        if that is earlier, the day it started; False when it had ended."""
        if self.status != "open":
            return False
        self.end("consent_withdrawn", max(on, self.started_on))
        return True

    def _not_before_start(self, on: date, field: str) -> None:
        if on < self.started_on:
            raise CommandError(
                "validation_error",
                "that is before the match started",
                **{field: f"before {self.started_on.isoformat()}"},
            )

    def log_contact(self, on: date) -> None:
        """Contacts may be entered late, for any day from the start to the end of the match."""
        self._not_before_start(on, "date")
        if self.ended_on is not None and on > self.ended_on:
            raise CommandError.conflict(
                "the match had ended by then", date=f"after {self.ended_on.isoformat()}"
            )

    def end(self, reason: str, on: date) -> None:
        if self.status != "open":
            raise CommandError.conflict("the match has already ended", match_id="ended")
        self._not_before_start(on, "on")
        self.status = "ended"
        self.ended_on = on
        self.end_reason = reason


@dataclass
class Voidable:
    """An entry typed by mistake (wrong volunteer, wrong match, wrong figures) is voided with a
    reason, never deleted: its hours or contact then count nowhere."""

    void_reason: str | None

    def void(self, reason: str, field: str) -> None:
        if self.void_reason is not None:
            raise CommandError.conflict("the entry is already voided", **{field: "voided"})
        self.void_reason = reason


@dataclass
class HoursEntry(Voidable):
    hours_id: UUID
    volunteer_id: UUID
    site: str
    team: str
    minutes: int
    date: date
    assignment_id: UUID | None


@dataclass
class PeerContact(Voidable):
    contact_id: UUID
    match_id: UUID
    peer_volunteer_id: UUID
    site: str
    minutes: int
    date: date
    mode: str


@dataclass(frozen=True)
class Milestones:
    """Recognition: the hours at which a volunteer's total is celebrated, lowest first."""

    hours: tuple[int, ...]

    @classmethod
    def of(cls, hours: list[int]) -> Milestones:
        return cls(tuple(sorted(set(hours))))

    def reached(self, total: float) -> list[int]:
        return [m for m in self.hours if total >= m]

    def next_after(self, total: float) -> int | None:
        return next((m for m in self.hours if total < m), None)


def in_hours(minutes: int) -> float:
    """Minutes as hours, to one decimal, as every reply shows them."""
    return round(minutes / 60, 1)
