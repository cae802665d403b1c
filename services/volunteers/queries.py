"""Volunteers' read side: a volunteer's record, the site's volunteers, hours, recognition, a
session's duties, peer matches."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from services.volunteers import views
from services.volunteers.domain import Milestones, TeamRules, in_hours
from shared.kit.bus.requests import QueryContext
from shared.kit.commands import found, must_own
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.volunteers import (
    AssignmentsQuery,
    HoursQuery,
    PeerMatchesQuery,
    PersonDataQuery,
    RecognitionQuery,
    UnfilledDutiesQuery,
    VolunteerDutiesQuery,
    VolunteerQuery,
    VolunteersQuery,
)
from shared.kit.identity.access import Grant, only_as
from shared.kit.known_people import person_of


async def volunteer(q: VolunteerQuery, ctx: QueryContext, *, rules: TeamRules) -> dict[str, Any]:
    record = found(
        await views.volunteer_record(ctx.conn, q.volunteer_id), "volunteer", "volunteer_id"
    )
    v = record.volunteer
    if not ctx.sees(v.site):
        raise CommandError.not_found("volunteer", "volunteer_id")
    active = v.active_teams(rules)
    return {
        "volunteer_id": str(q.volunteer_id),
        "person_id": str(v.person_id),
        "site": v.site,
        "active": v.active,
        "skills": v.skills,
        "languages": v.languages,
        "teams": [
            {
                "team": t,
                "active": t in active,
                "missing_courses": rules.missing_courses(t, v.courses),
            }
            for t in v.teams
        ],
        "trainings": [
            {
                "course": t.course,
                "hours": t.hours,
                "completed_on": t.completed_on.isoformat(),
            }
            for t in record.trainings
        ],
        "availability": [
            {
                "weekday": s.weekday,
                "start": s.start.isoformat(timespec="minutes"),
                "end": s.end.isoformat(timespec="minutes"),
            }
            for s in record.availability
        ],
        "total_hours": in_hours(record.total_minutes),
    }


async def hours(q: HoursQuery, ctx: QueryContext) -> dict[str, Any]:
    given = await views.minutes_by_volunteer_and_team(
        ctx.conn, ctx.sites, q.from_date, q.to_date, q.volunteer_id
    )
    by_team: dict[str, float] = {}
    for g in given:
        by_team[g.team] = by_team.get(g.team, 0) + g.minutes / 60
    return {
        "from": q.from_date.isoformat(),
        "to": q.to_date.isoformat(),
        "volunteers": [
            {
                "volunteer_id": str(g.volunteer_id),
                "site": g.site,
                "team": g.team,
                "hours": in_hours(g.minutes),
            }
            for g in given
        ],
        "by_team": {team: round(h, 1) for team, h in sorted(by_team.items())},
    }


async def recognition(q: RecognitionQuery, ctx: QueryContext) -> dict[str, Any]:
    milestones = Milestones.of(q.milestones)
    out = []
    for v in await views.total_minutes(ctx.conn, ctx.sites):
        total = in_hours(v.minutes)
        out.append(
            {
                "volunteer_id": str(v.volunteer_id),
                "site": v.site,
                "person_id": str(v.person_id),
                "total_hours": total,
                "milestones_reached": milestones.reached(total),
                "next_milestone": milestones.next_after(total),
            }
        )
    return {"volunteers": out}


async def assignments(q: AssignmentsQuery, ctx: QueryContext) -> dict[str, Any]:
    """The session's duties; a peer supporter's own only (their token's sub is their
    ``volunteer_id``)."""
    site = await views.session_site(ctx.conn, q.session_id)
    if site is not None and not ctx.sees(site):
        raise CommandError.not_found("session", "session_id")
    duties = await views.duties(ctx.conn, q.session_id)
    if ctx.identity is not None and only_as(ctx.granted, "peer_supporter"):
        duties = [d for d in duties if str(d.volunteer_id) == ctx.identity.sub]
    return {
        "session_id": str(q.session_id),
        "assignments": [
            {
                "assignment_id": str(d.assignment_id),
                "volunteer_id": str(d.volunteer_id),
                "role": d.role,
                "status": d.status,
            }
            for d in duties
        ],
    }


def _window(ctx: QueryContext, first: date | None, days: int) -> tuple[date, date]:
    start = first or datetime.now(ctx.zone).date()
    return start, start + timedelta(days=days - 1)


def _when(starts_at: datetime, ends_at: datetime) -> dict[str, str]:
    return {
        "date": starts_at.date().isoformat(),
        "start": starts_at.time().isoformat(timespec="minutes"),
        "end": ends_at.time().isoformat(timespec="minutes"),
    }


async def volunteer_duties(q: VolunteerDutiesQuery, ctx: QueryContext) -> dict[str, Any]:
    """The volunteer's coming duties at any site they serve; a peer supporter's own only."""
    must_own(
        Grant(ctx.identity, ctx.sites, ctx.granted, ctx.sees),
        "peer_supporter",
        q.volunteer_id,
        "duties",
        "volunteer_id",
    )
    record = await views.volunteer_record(ctx.conn, q.volunteer_id)
    if record is None or not ctx.sees(record.volunteer.site):
        raise CommandError.not_found("volunteer", "volunteer_id")
    first, last = _window(ctx, q.from_date, q.days)
    duties = await views.coming_duties(ctx.conn, q.volunteer_id, first, last)
    return {
        "volunteer_id": str(q.volunteer_id),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "duties": [
            {
                "assignment_id": str(d.assignment_id),
                "session_id": str(d.session_id),
                "site": d.site,
                **_when(d.starts_at, d.ends_at),
                "role": d.role,
                "status": d.status,
            }
            for d in duties
        ],
    }


async def unfilled_duties(q: UnfilledDutiesQuery, ctx: QueryContext) -> dict[str, Any]:
    """Places still open on the duties asked for at the site's (and its children's) sessions."""
    first, last = _window(ctx, q.from_date, q.days)
    duties = await views.unfilled_duties(ctx.conn, ctx.sites, first, last)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "duties": [
            {
                "session_id": str(d.session_id),
                "site": d.site,
                **_when(d.starts_at, d.ends_at),
                "role": d.role,
                "wanted": d.wanted,
                "standing": d.standing,
                "missing": d.wanted - d.standing,
            }
            for d in duties
        ],
    }


async def volunteers(q: VolunteersQuery, ctx: QueryContext) -> dict[str, Any]:
    """Ids, teams and skills only: names are intake's to give."""
    return {
        "volunteers": [
            {
                "volunteer_id": str(v.volunteer_id),
                "person_id": str(v.person_id),
                "site": v.site,
                "teams": v.teams,
                "skills": v.skills,
                "languages": v.languages,
                "active": v.active,
                "total_hours": in_hours(v.minutes),
            }
            for v in await views.volunteers(ctx.conn, ctx.sites, q.team, q.include_inactive)
        ]
    }


MATCH_STATUSES = {"active": ("open",), "ended": ("ended",), "all": ("open", "ended")}


def _match(m: views.MatchSummary) -> dict[str, Any]:
    return {
        "match_id": str(m.match_id),
        "peer_volunteer_id": str(m.peer_volunteer_id),
        "person_id": str(m.person_id),
        "site": m.site,
        "status": m.status,
        "started_on": m.started_on.isoformat(),
        "ended_on": m.ended_on.isoformat() if m.ended_on else None,
        "end_reason": m.end_reason,
        "contact_count": m.contacts,
        "contact_minutes": m.minutes,
        "last_contact_on": m.last_contact.isoformat() if m.last_contact else None,
    }


async def peer_matches(q: PeerMatchesQuery, ctx: QueryContext) -> dict[str, Any]:
    """The site's matches, or one with its contacts; a peer supporter's own only (their
    token's sub is their ``volunteer_id``): another's is ``forbidden`` when named, and left
    out of the list."""
    grant = Grant(ctx.identity, ctx.sites, ctx.granted, ctx.sees)
    if q.volunteer_id is not None:
        must_own(grant, "peer_supporter", q.volunteer_id, "matches", "volunteer_id")
    if q.match_id is not None:
        one = await views.peer_matches(
            ctx.conn, ctx.sites, statuses=MATCH_STATUSES["all"], match_id=q.match_id
        )
        if not one:
            raise CommandError.not_found("peer match", "match_id")
        match = one[0]
        must_own(grant, "peer_supporter", match.peer_volunteer_id, "matches", "match_id")
        contacts = await views.peer_contacts(ctx.conn, match.match_id)
        return {
            "matches": [
                {
                    **_match(match),
                    "contacts": [
                        {
                            "contact_id": str(c.contact_id),
                            "date": c.day.isoformat(),
                            "minutes": c.minutes,
                            "mode": c.mode,
                        }
                        for c in contacts
                    ],
                }
            ]
        }
    own_only = ctx.identity is not None and only_as(ctx.granted, "peer_supporter")
    peer = ctx.identity.sub if own_only and ctx.identity else None
    if peer is None and q.volunteer_id is not None:
        peer = str(q.volunteer_id)
    matches = await views.peer_matches(
        ctx.conn, ctx.sites, statuses=MATCH_STATUSES[q.status], peer=peer
    )
    return {"status": q.status, "matches": [_match(m) for m in matches]}


async def person_data(q: PersonDataQuery, ctx: QueryContext) -> dict[str, Any]:
    """What volunteers holds about the person at the site and below it, for an access
    request (names are intake's)."""
    person_id = await person_of(ctx.conn, q.person_id)
    return {
        "person_id": str(person_id),
        "sites": sorted(ctx.sites),
        **await views.person_data(ctx.conn, person_id, sorted(ctx.sites)),
    }
