"""Volunteers' read-side SQL, for the query handlers: nothing here locks or writes (``store``
holds the SQL of the commands and of what volunteers learns from others)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.volunteers.domain import Slot, Volunteer
from shared.kit.db.rows import fetch_jsonable, jsonable
from shared.kit.known_people import what_is_known


@dataclass(frozen=True)
class Training:
    course: str
    hours: float
    completed_on: date


@dataclass(frozen=True)
class VolunteerRecord:
    volunteer: Volunteer
    trainings: list[Training]
    availability: list[Slot]
    total_minutes: int


@dataclass(frozen=True)
class TeamMinutes:
    volunteer_id: UUID
    site: str
    team: str
    minutes: int


@dataclass(frozen=True)
class TotalMinutes:
    volunteer_id: UUID
    site: str
    person_id: UUID
    minutes: int


@dataclass(frozen=True)
class Duty:
    assignment_id: UUID
    volunteer_id: UUID
    role: str
    status: str


async def volunteer_record(conn: asyncpg.Connection, volunteer_id: UUID) -> VolunteerRecord | None:
    row = await conn.fetchrow("SELECT * FROM volunteers WHERE volunteer_id = $1", volunteer_id)
    if row is None:
        return None
    teams = await conn.fetch(
        "SELECT team FROM volunteer_teams WHERE volunteer_id = $1 ORDER BY position", volunteer_id
    )
    trainings = [
        Training(t["course"], float(t["hours"]), t["completed_on"])
        for t in await conn.fetch(
            "SELECT course, hours, completed_on FROM trainings WHERE volunteer_id = $1 "
            "ORDER BY completed_on",
            volunteer_id,
        )
    ]
    slots = await conn.fetch(
        "SELECT weekday, starts, ends FROM availability WHERE volunteer_id = $1 "
        "ORDER BY weekday, starts",
        volunteer_id,
    )
    total = await conn.fetchval(
        "SELECT coalesce(sum(minutes), 0) FROM hours WHERE volunteer_id = $1 "
        "AND void_reason IS NULL",
        volunteer_id,
    )
    return VolunteerRecord(
        volunteer=Volunteer(
            volunteer_id=row["volunteer_id"],
            person_id=row["person_id"],
            site=row["site"],
            registered_on=row["registered_on"],
            skills=list(row["skills"]),
            languages=list(row["languages"]),
            teams=[t["team"] for t in teams],
            courses={t.course for t in trainings},
            active=row["active"],
        ),
        trainings=trainings,
        availability=[Slot(s["weekday"], s["starts"], s["ends"]) for s in slots],
        total_minutes=int(total),
    )


async def minutes_by_volunteer_and_team(
    conn: asyncpg.Connection,
    sites: Collection[str],
    first: date,
    last: date,
    volunteer_id: UUID | None,
) -> list[TeamMinutes]:
    """Minutes logged by the volunteers of ``sites`` from ``first`` to ``last`` (both
    included), per volunteer and team, optionally for one volunteer."""
    found = await conn.fetch(
        """SELECT h.volunteer_id, v.site, h.team, sum(h.minutes) AS minutes
           FROM hours h JOIN volunteers v USING (volunteer_id)
           WHERE v.site = ANY($1::text[]) AND h.day BETWEEN $2 AND $3
             AND h.void_reason IS NULL AND ($4::uuid IS NULL OR h.volunteer_id = $4)
           GROUP BY h.volunteer_id, v.site, h.team ORDER BY h.volunteer_id, h.team""",
        sorted(sites),
        first,
        last,
        volunteer_id,
    )
    return [TeamMinutes(r["volunteer_id"], r["site"], r["team"], int(r["minutes"])) for r in found]


async def total_minutes(conn: asyncpg.Connection, sites: Collection[str]) -> list[TotalMinutes]:
    """Every volunteer of ``sites`` with all the minutes they ever logged, most first."""
    found = await conn.fetch(
        """SELECT v.volunteer_id, v.site, v.person_id, coalesce(sum(h.minutes), 0) AS minutes
           FROM volunteers v LEFT JOIN hours h
                ON h.volunteer_id = v.volunteer_id AND h.void_reason IS NULL
           WHERE v.site = ANY($1::text[]) GROUP BY v.volunteer_id, v.site, v.person_id
           ORDER BY minutes DESC, v.volunteer_id""",
        sorted(sites),
    )
    return [
        TotalMinutes(r["volunteer_id"], r["site"], r["person_id"], int(r["minutes"])) for r in found
    ]


async def duties(conn: asyncpg.Connection, session_id: UUID) -> list[Duty]:
    """The session's duties in the order they were made."""
    found = await conn.fetch(
        """SELECT assignment_id, volunteer_id, role, status FROM assignments
           WHERE session_id = $1 ORDER BY made_at""",
        session_id,
    )
    return [Duty(r["assignment_id"], r["volunteer_id"], r["role"], r["status"]) for r in found]


@dataclass(frozen=True)
class ComingDuty:
    assignment_id: UUID
    session_id: UUID
    site: str
    starts_at: datetime
    ends_at: datetime
    role: str
    status: str


@dataclass(frozen=True)
class UnfilledDuty:
    session_id: UUID
    site: str
    starts_at: datetime
    ends_at: datetime
    role: str
    wanted: int
    standing: int


async def coming_duties(
    conn: asyncpg.Connection, volunteer_id: UUID, first: date, last: date
) -> list[ComingDuty]:
    """The volunteer's proposed and confirmed duties at sessions not cancelled from ``first``
    to ``last`` (both included), soonest first."""
    found = await conn.fetch(
        """SELECT a.assignment_id, a.session_id, s.site, s.starts_at, s.ends_at, a.role, a.status
           FROM assignments a JOIN known_sessions s USING (session_id)
           WHERE a.volunteer_id = $1 AND a.status IN ('proposed', 'confirmed')
             AND NOT s.cancelled AND s.starts_at::date BETWEEN $2 AND $3
           ORDER BY s.starts_at, a.assignment_id""",
        volunteer_id,
        first,
        last,
    )
    return [ComingDuty(**dict(r)) for r in found]


async def unfilled_duties(
    conn: asyncpg.Connection, sites: Collection[str], first: date, last: date
) -> list[UnfilledDuty]:
    """Duties asked for at sessions of ``sites`` not cancelled from ``first`` to ``last`` with
    fewer proposed or confirmed volunteers than asked, soonest first."""
    found = await conn.fetch(
        """SELECT r.session_id, s.site, s.starts_at, s.ends_at, r.role, r.wanted,
                  (SELECT count(*) FROM assignments a
                   WHERE a.session_id = r.session_id AND a.role = r.role
                     AND a.status IN ('proposed', 'confirmed'))::int AS standing
           FROM duty_requests r JOIN known_sessions s USING (session_id)
           WHERE s.site = ANY($1::text[]) AND NOT s.cancelled
             AND s.starts_at::date BETWEEN $2 AND $3""",
        sorted(sites),
        first,
        last,
    )
    unfilled = [UnfilledDuty(**dict(r)) for r in found if r["standing"] < r["wanted"]]
    return sorted(unfilled, key=lambda d: (d.starts_at, d.role, str(d.session_id)))


async def session_site(conn: asyncpg.Connection, session_id: UUID) -> str | None:
    """The site of a session volunteers has heard of, or None."""
    site: str | None = await conn.fetchval(
        "SELECT site FROM known_sessions WHERE session_id = $1", session_id
    )
    return site


@dataclass(frozen=True)
class Listed:
    volunteer_id: UUID
    person_id: UUID
    site: str
    teams: list[str]
    skills: list[str]
    languages: list[str]
    active: bool
    minutes: int


async def volunteers(
    conn: asyncpg.Connection, sites: Collection[str], team: str | None, include_inactive: bool
) -> list[Listed]:
    """The volunteers of ``sites`` in the order they registered, optionally only a team's
    members and the inactive too, with all the minutes they logged (voided left out)."""
    found = await conn.fetch(
        """SELECT v.volunteer_id, v.person_id, v.site, v.skills, v.languages, v.active,
                  (SELECT array_agg(t.team ORDER BY t.position) FROM volunteer_teams t
                   WHERE t.volunteer_id = v.volunteer_id) AS teams,
                  (SELECT coalesce(sum(h.minutes), 0) FROM hours h
                   WHERE h.volunteer_id = v.volunteer_id AND h.void_reason IS NULL) AS minutes
           FROM volunteers v
           WHERE v.site = ANY($1::text[]) AND ($3 OR v.active)
             AND ($2::text IS NULL OR EXISTS (
                 SELECT 1 FROM volunteer_teams t
                 WHERE t.volunteer_id = v.volunteer_id AND t.team = $2))
           ORDER BY v.registered_on, v.volunteer_id""",
        sorted(sites),
        team,
        include_inactive,
    )
    return [
        Listed(
            volunteer_id=r["volunteer_id"],
            person_id=r["person_id"],
            site=r["site"],
            teams=list(r["teams"] or []),
            skills=list(r["skills"]),
            languages=list(r["languages"]),
            active=r["active"],
            minutes=int(r["minutes"]),
        )
        for r in found
    ]


@dataclass(frozen=True)
class MatchSummary:
    match_id: UUID
    peer_volunteer_id: UUID
    person_id: UUID
    site: str
    status: str
    started_on: date
    ended_on: date | None
    end_reason: str | None
    contacts: int
    minutes: int
    last_contact: date | None


@dataclass(frozen=True)
class PeerContact:
    contact_id: UUID
    day: date
    minutes: int
    mode: str


async def peer_matches(
    conn: asyncpg.Connection,
    sites: Collection[str],
    *,
    statuses: Collection[str],
    peer: str | None = None,
    match_id: UUID | None = None,
) -> list[MatchSummary]:
    """Matches at ``sites`` in ``statuses`` (open, ended), newest first, optionally only one
    peer's (by ``volunteer_id`` as text: a token's sub) or one match, with their contacts
    counted (voided left out)."""
    found = await conn.fetch(
        """SELECT m.match_id, m.peer_volunteer_id, m.person_id, m.site, m.status, m.started_on,
                  m.ended_on, m.end_reason, count(c.contact_id)::int AS contacts,
                  coalesce(sum(c.minutes), 0)::int AS minutes, max(c.day) AS last_contact
           FROM peer_matches m
           LEFT JOIN peer_contacts c ON c.match_id = m.match_id AND c.void_reason IS NULL
           WHERE m.site = ANY($1::text[]) AND m.status = ANY($2::text[])
             AND ($3::text IS NULL OR m.peer_volunteer_id::text = $3)
             AND ($4::uuid IS NULL OR m.match_id = $4)
           GROUP BY m.match_id
           ORDER BY m.started_on DESC, m.match_id""",
        sorted(sites),
        sorted(statuses),
        peer,
        match_id,
    )
    return [MatchSummary(**dict(r)) for r in found]


async def peer_contacts(conn: asyncpg.Connection, match_id: UUID) -> list[PeerContact]:
    """A match's contacts, newest first (voided left out)."""
    found = await conn.fetch(
        """SELECT contact_id, day, minutes, mode FROM peer_contacts
           WHERE match_id = $1 AND void_reason IS NULL ORDER BY day DESC, contact_id""",
        match_id,
    )
    return [PeerContact(**dict(r)) for r in found]


# --- access requests (issue 17) -------------------------------------------------------------


async def person_data(
    conn: asyncpg.Connection, person_id: UUID, sites: list[str]
) -> dict[str, Any]:
    """Every row volunteers holds about the person (and the duplicates merged into them): the
    volunteer record at ``sites`` with its teams, trainings, availability, dates away, duties
    and hours; peer matches at ``sites`` (as supporter or as the person supported) with their
    contacts; and what volunteers keeps for every site (roles, service consent, carer links,
    merges)."""
    known = await what_is_known(conn, person_id)
    ids = known.pop("ids")
    consent = await conn.fetchrow(
        "SELECT given, recorded_at FROM service_consent WHERE person_id = $1", person_id
    )
    record = await conn.fetchrow(
        """SELECT * FROM volunteers WHERE person_id = ANY($1::uuid[]) AND site = ANY($2::text[])
           ORDER BY registered_on LIMIT 1""",
        ids,
        sites,
    )
    volunteer: dict[str, Any] | None = None
    if record is not None:
        vid = record["volunteer_id"]
        volunteer = {
            **jsonable(record),
            "teams": await fetch_jsonable(
                conn,
                """SELECT team, joined_on FROM volunteer_teams WHERE volunteer_id = $1
                   ORDER BY position""",
                vid,
            ),
            "trainings": await fetch_jsonable(
                conn,
                """SELECT course, hours, completed_on FROM trainings WHERE volunteer_id = $1
                   ORDER BY completed_on, course""",
                vid,
            ),
            "availability": await fetch_jsonable(
                conn,
                """SELECT weekday, starts, ends FROM availability WHERE volunteer_id = $1
                   ORDER BY weekday, starts""",
                vid,
            ),
            "unavailable_dates": [
                r["day"].isoformat()
                for r in await conn.fetch(
                    "SELECT day FROM unavailable_dates WHERE volunteer_id = $1 ORDER BY day", vid
                )
            ],
            "assignments": await fetch_jsonable(
                conn,
                """SELECT a.assignment_id, a.session_id, s.site, s.starts_at::date AS date,
                          a.role, a.status, a.made_at
                   FROM assignments a JOIN known_sessions s USING (session_id)
                   WHERE a.volunteer_id = $1 ORDER BY s.starts_at, a.assignment_id""",
                vid,
            ),
            "hours": await fetch_jsonable(
                conn,
                """SELECT hours_id, team, minutes, day, activity, assignment_id, void_reason
                   FROM hours WHERE volunteer_id = $1 ORDER BY day, hours_id""",
                vid,
            ),
        }
    matches = await fetch_jsonable(
        conn,
        """SELECT m.match_id, m.peer_volunteer_id, m.person_id, m.site, m.status, m.started_on,
                  m.ended_on, m.end_reason,
                  CASE WHEN m.person_id = ANY($1::uuid[]) THEN 'supported' ELSE 'supporter'
                  END AS as_whom
           FROM peer_matches m LEFT JOIN volunteers v ON v.volunteer_id = m.peer_volunteer_id
           WHERE m.site = ANY($2::text[])
             AND (m.person_id = ANY($1::uuid[]) OR v.person_id = ANY($1::uuid[]))
           ORDER BY m.started_on, m.match_id""",
        ids,
        sites,
    )
    contacts = await fetch_jsonable(
        conn,
        """SELECT contact_id, match_id, day, minutes, mode, void_reason FROM peer_contacts
           WHERE match_id = ANY($1::uuid[]) ORDER BY day, contact_id""",
        [UUID(m["match_id"]) for m in matches],
    )
    for match in matches:
        match["contacts"] = [
            {k: v for k, v in c.items() if k != "match_id"}
            for c in contacts
            if c["match_id"] == match["match_id"]
        ]
    return {
        **known,
        "service_consent": jsonable(consent) if consent else None,
        "carer_links": await fetch_jsonable(
            conn,
            """SELECT carer_id, cared_for_id FROM carer_links
               WHERE carer_id = ANY($1::uuid[]) OR cared_for_id = ANY($1::uuid[])
               ORDER BY carer_id, cared_for_id""",
            ids,
        ),
        "volunteer": volunteer,
        "peer_matches": matches,
    }
