"""Volunteers' read side: a volunteer's record, hours, recognition, a session's duties."""

from __future__ import annotations

from typing import Any

from services.volunteers import views
from services.volunteers.domain import Milestones, TeamRules, in_hours
from shared.kit.bus.requests import QueryContext
from shared.kit.commands import found
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.volunteers import (
    AssignmentsQuery,
    HoursQuery,
    RecognitionQuery,
    VolunteerQuery,
)
from shared.kit.identity.access import only_as


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
