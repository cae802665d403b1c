"""Volunteers' rules, in the agency's words. Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from shared.kit.contracts.intake import SERVICE_USER_ROLES
from shared.kit.contracts.replies import CommandError

PEER_TEAM_DEFAULT = "peer_supporters"


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


@dataclass
class Candidate:
    volunteer_id: UUID
    teams: list[str]
    skills: set[str]
    completed: set[str]
    slots: list[Slot]
    unavailable: set[date]
    booked_overlapping: bool
    recent_minutes: int


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
    """Choose who does a duty: suitable, trained, available, free; fewest recent hours first.

    Returns the chosen volunteer ids and, for those passed over, how many for each reason.
    """
    reasons: dict[str, int] = {}
    suitable: list[Candidate] = []
    for c in candidates:
        active = rules.active_teams(c.teams, c.completed)
        wanted = [t for t in active if teams is None or t in teams]
        if not wanted:
            in_team = teams is None or set(c.teams) & set(teams)
            reason = "not_trained" if in_team else "not_in_team"
        elif not set(skills) <= c.skills:
            reason = "missing_skills"
        elif not available(c.slots, c.unavailable, starts, ends):
            reason = "not_available"
        elif c.booked_overlapping:
            reason = "already_booked"
        else:
            suitable.append(c)
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
    suitable.sort(key=lambda c: (c.recent_minutes, str(c.volunteer_id)))
    return [c.volunteer_id for c in suitable[:needed]], reasons


def check_peer_match(
    *,
    peer_person_id: UUID,
    person_id: UUID,
    peer_active: bool,
    person_known: bool,
    service_consent: bool,
    linked_as_carers: bool,
) -> None:
    if not peer_active:
        raise CommandError(
            "not_allowed",
            "the volunteer is not an active, trained peer supporter",
            peer_volunteer_id="not an active peer supporter",
        )
    if not person_known:
        raise CommandError("not_found", "no such person", person_id="unknown person")
    if person_id == peer_person_id:
        raise CommandError(
            "not_allowed", "a peer supporter is never matched with themselves", person_id="self"
        )
    if linked_as_carers:
        raise CommandError(
            "not_allowed",
            "a peer supporter is never matched with their own carer or the person they care for",
            person_id="family link",
        )
    if not service_consent:
        raise CommandError(
            "consent_required",
            "the person has not given consent for service",
            person_id="no service consent",
        )
