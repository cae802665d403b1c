"""Volunteers' read side: a volunteer's record, hours, recognition, a session's duties."""

from __future__ import annotations

from typing import Any

from services.volunteers.domain import TeamRules
from shared.kit.bus.requests import QueryContext
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.volunteers import (
    AssignmentsQuery,
    HoursQuery,
    RecognitionQuery,
    VolunteerQuery,
)


async def volunteer(q: VolunteerQuery, ctx: QueryContext, *, rules: TeamRules) -> dict[str, Any]:
    row = await ctx.conn.fetchrow(
        "SELECT * FROM volunteers WHERE volunteer_id = $1", q.volunteer_id
    )
    if row is None:
        raise CommandError("not_found", "no such volunteer", volunteer_id="unknown volunteer")
    teams = [
        r["team"]
        for r in await ctx.conn.fetch(
            "SELECT team FROM volunteer_teams WHERE volunteer_id = $1 ORDER BY position",
            q.volunteer_id,
        )
    ]
    trainings = await ctx.conn.fetch(
        "SELECT course, hours, completed_on FROM trainings WHERE volunteer_id = $1 "
        "ORDER BY completed_on",
        q.volunteer_id,
    )
    completed = {t["course"] for t in trainings}
    slots = await ctx.conn.fetch(
        "SELECT weekday, starts, ends FROM availability WHERE volunteer_id = $1 "
        "ORDER BY weekday, starts",
        q.volunteer_id,
    )
    total = await ctx.conn.fetchval(
        "SELECT coalesce(sum(minutes), 0) FROM hours WHERE volunteer_id = $1", q.volunteer_id
    )
    return {
        "volunteer_id": str(q.volunteer_id),
        "person_id": str(row["person_id"]),
        "site": row["site"],
        "skills": list(row["skills"]),
        "languages": list(row["languages"]),
        "teams": [
            {
                "team": t,
                "active": t in rules.active_teams([t], completed),
                "missing_courses": rules.missing_courses(t, completed),
            }
            for t in teams
        ],
        "trainings": [
            {
                "course": t["course"],
                "hours": float(t["hours"]),
                "completed_on": t["completed_on"].isoformat(),
            }
            for t in trainings
        ],
        "availability": [
            {
                "weekday": s["weekday"],
                "start": s["starts"].isoformat(timespec="minutes"),
                "end": s["ends"].isoformat(timespec="minutes"),
            }
            for s in slots
        ],
        "total_hours": round(int(total) / 60, 1),
    }


async def hours(q: HoursQuery, ctx: QueryContext) -> dict[str, Any]:
    rows = await ctx.conn.fetch(
        """SELECT h.volunteer_id, h.team, sum(h.minutes) AS minutes
           FROM hours h JOIN volunteers v USING (volunteer_id)
           WHERE v.site = $1 AND h.day BETWEEN $2 AND $3
             AND ($4::uuid IS NULL OR h.volunteer_id = $4)
           GROUP BY h.volunteer_id, h.team ORDER BY h.volunteer_id, h.team""",
        ctx.site,
        q.from_date,
        q.to_date,
        q.volunteer_id,
    )
    by_team: dict[str, float] = {}
    for r in rows:
        by_team[r["team"]] = by_team.get(r["team"], 0) + int(r["minutes"]) / 60
    return {
        "from": q.from_date.isoformat(),
        "to": q.to_date.isoformat(),
        "volunteers": [
            {
                "volunteer_id": str(r["volunteer_id"]),
                "team": r["team"],
                "hours": round(int(r["minutes"]) / 60, 1),
            }
            for r in rows
        ],
        "by_team": {team: round(h, 1) for team, h in sorted(by_team.items())},
    }


async def recognition(q: RecognitionQuery, ctx: QueryContext) -> dict[str, Any]:
    rows = await ctx.conn.fetch(
        """SELECT v.volunteer_id, v.person_id, coalesce(sum(h.minutes), 0) AS minutes
           FROM volunteers v LEFT JOIN hours h USING (volunteer_id)
           WHERE v.site = $1 GROUP BY v.volunteer_id, v.person_id
           ORDER BY minutes DESC, v.volunteer_id""",
        ctx.site,
    )
    milestones = sorted(set(q.milestones))
    out = []
    for r in rows:
        total = round(int(r["minutes"]) / 60, 1)
        reached = [m for m in milestones if total >= m]
        following = next((m for m in milestones if total < m), None)
        out.append(
            {
                "volunteer_id": str(r["volunteer_id"]),
                "person_id": str(r["person_id"]),
                "total_hours": total,
                "milestones_reached": reached,
                "next_milestone": following,
            }
        )
    return {"volunteers": out}


async def assignments(q: AssignmentsQuery, ctx: QueryContext) -> dict[str, Any]:
    rows = await ctx.conn.fetch(
        """SELECT assignment_id, volunteer_id, role, status FROM assignments
           WHERE session_id = $1 ORDER BY made_at""",
        q.session_id,
    )
    return {
        "session_id": str(q.session_id),
        "assignments": [
            {
                "assignment_id": str(r["assignment_id"]),
                "volunteer_id": str(r["volunteer_id"]),
                "role": r["role"],
                "status": r["status"],
            }
            for r in rows
        ],
    }
