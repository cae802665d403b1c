"""Groups' read side: programmes, rosters (names from intake at read time), completion."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from services.groups import store
from services.groups.domain import attendance_rate
from shared.kit.bus.requests import QueryContext, request
from shared.kit.contracts.groups import CompletionQuery, ProgrammeQuery, RosterQuery
from shared.kit.contracts.replies import CommandError


async def programme(q: ProgrammeQuery, ctx: QueryContext) -> dict[str, Any]:
    found = await store.load_programme(ctx.conn, q.programme_id)
    if found is None:
        raise CommandError("not_found", "no such programme", programme_id="unknown programme")
    _, row = found
    sessions = await ctx.conn.fetch(
        "SELECT * FROM sessions WHERE programme_id = $1 ORDER BY starts_at", q.programme_id
    )
    counts = await ctx.conn.fetch(
        """SELECT status, count(*) AS n FROM enrolments WHERE programme_id = $1
           GROUP BY status""",
        q.programme_id,
    )
    waitlist = await ctx.conn.fetch(
        """SELECT enrollment_id, person_id FROM enrolments
           WHERE programme_id = $1 AND status = 'waitlisted' ORDER BY seq""",
        q.programme_id,
    )
    return {
        "programme_id": str(row["programme_id"]),
        "site": row["site"],
        "title": row["title"],
        "type": row["type"],
        "target_roles": list(row["target_roles"]),
        "capacity": row["capacity"],
        "requires_case": row["requires_case"],
        "tags": list(row["tags"]),
        "facilitators": list(row["facilitators"]),
        "venue": row["venue"],
        "sessions": [store.session_view(s) for s in sessions],
        "enrolments": {r["status"]: r["n"] for r in counts},
        "waitlist": [
            {"enrollment_id": str(w["enrollment_id"]), "person_id": str(w["person_id"])}
            for w in waitlist
        ],
    }


async def _display_name(ctx: QueryContext, person_id: UUID, actor: str) -> str | None:
    try:
        reply = await request(
            ctx.nats,
            "qry",
            ctx.site,
            "intake",
            "person",
            {"person_id": str(person_id), "actor": actor},
            timeout=3,
            no_responders_patience=0.5,
        )
    except Exception:  # noqa: BLE001 - the roster still shows who, by id, without names
        return None
    return reply.result.get("preferred_name") if reply.ok and reply.result else None


async def roster(q: RosterQuery, ctx: QueryContext) -> dict[str, Any]:
    session = await store.load_session(ctx.conn, q.session_id)
    if session is None:
        raise CommandError("not_found", "no such session", session_id="unknown session")
    rows = await ctx.conn.fetch(
        """SELECT e.enrollment_id, e.person_id, a.present
           FROM enrolments e
           LEFT JOIN attendance a ON a.session_id = $2 AND a.person_id = e.person_id
           WHERE e.programme_id = $1
             AND (e.status = 'enrolled' OR a.person_id IS NOT NULL)
           ORDER BY e.seq""",
        session["programme_id"],
        q.session_id,
    )
    names = await asyncio.gather(*(_display_name(ctx, r["person_id"], q.actor) for r in rows))
    return {
        **store.session_view(session),
        "walk_ins": session["walk_ins"],
        "names_complete": all(name is not None for name in names),
        "people": [
            {
                "enrollment_id": str(r["enrollment_id"]),
                "person_id": str(r["person_id"]),
                "display_name": name,
                "attendance": None
                if r["present"] is None
                else ("present" if r["present"] else "absent"),
            }
            for r, name in zip(rows, names, strict=True)
        ],
    }


async def completion(
    q: CompletionQuery, ctx: QueryContext, *, required_share: float
) -> dict[str, Any]:
    if await store.load_programme(ctx.conn, q.programme_id) is None:
        raise CommandError("not_found", "no such programme", programme_id="unknown programme")
    held = int(
        await ctx.conn.fetchval(
            "SELECT count(*) FROM sessions WHERE programme_id = $1 AND status = 'held'",
            q.programme_id,
        )
    )
    rows = await ctx.conn.fetch(
        """SELECT e.person_id, e.status,
                  count(a.*) FILTER (WHERE a.present AND s.status = 'held') AS attended
           FROM enrolments e
           LEFT JOIN attendance a ON a.person_id = e.person_id
           LEFT JOIN sessions s ON s.session_id = a.session_id AND s.programme_id = e.programme_id
           WHERE e.programme_id = $1 AND e.status IN ('enrolled', 'withdrawn')
           GROUP BY e.person_id, e.status, e.seq ORDER BY e.seq""",
        q.programme_id,
    )
    participants = []
    for r in rows:
        rate = attendance_rate(int(r["attended"]), held)
        participants.append(
            {
                "person_id": str(r["person_id"]),
                "status": r["status"],
                "attended": int(r["attended"]),
                "attendance_rate": round(rate, 3),
                "completed": held > 0 and rate >= required_share,
            }
        )
    return {
        "programme_id": str(q.programme_id),
        "sessions_held": held,
        "required_share": required_share,
        "participants": participants,
    }
