"""Groups' read side: programmes, waitlists, rosters (names from intake at read time),
completion, calendars.

Its SQL is in views.py (and store.py for finding a programme)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from services.groups import store, views
from services.groups.domain import attendance_rate, completed
from shared.kit.bus.requests import QueryContext, request
from shared.kit.commands import found
from shared.kit.contracts.groups import (
    CalendarQuery,
    CompletionQuery,
    PersonDataQuery,
    PersonEnrolmentsQuery,
    ProgrammeQuery,
    ProgrammesQuery,
    RosterQuery,
    WaitlistQuery,
)
from shared.kit.contracts.replies import CommandError
from shared.kit.known_people import person_of


async def programme(q: ProgrammeQuery, ctx: QueryContext) -> dict[str, Any]:
    return found(
        await views.programme_view(ctx.conn, q.programme_id),
        "programme",
        "programme_id",
        site=ctx.sites,
    )


async def programmes(q: ProgrammesQuery, ctx: QueryContext) -> dict[str, Any]:
    return {
        "programmes": await views.programmes_view(
            ctx.conn, sorted(ctx.sites), datetime.now(ctx.zone).date(), q.include_ended
        )
    }


async def waitlist(q: WaitlistQuery, ctx: QueryContext) -> dict[str, Any]:
    """Ids and dates only: names are intake's to give."""
    found(
        await store.load_programme(ctx.conn, q.programme_id),
        "programme",
        "programme_id",
        site=ctx.sites,
    )
    return {
        "programme_id": str(q.programme_id),
        "waitlist": await views.waitlist_view(ctx.conn, q.programme_id),
    }


async def _display_name(ctx: QueryContext, person_id: str) -> str | None:
    """The person's preferred name, read from intake with the caller's own token: intake
    checks that they may read it and writes the read to its access log under their sub."""
    try:
        reply = await request(
            ctx.nats,
            "qry",
            ctx.site,
            "intake",
            "person",
            {"person_id": person_id},
            timeout=3,
            no_responders_patience=0.5,
            token=ctx.token,
        )
    except Exception:  # noqa: BLE001 - the roster still shows who, by id, without names
        return None
    return reply.result.get("preferred_name") if reply.ok and reply.result else None


async def roster(q: RosterQuery, ctx: QueryContext) -> dict[str, Any]:
    session, people = found(
        await views.roster_view(ctx.conn, q.session_id), "session", "session_id"
    )
    if not ctx.sees(session["site"]):
        raise CommandError.not_found("session", "session_id")
    names = await asyncio.gather(*(_display_name(ctx, p["person_id"]) for p in people))
    return {
        **session,
        "names_complete": all(name is not None for name in names),
        "people": [
            {
                "enrollment_id": p["enrollment_id"],
                "person_id": p["person_id"],
                "display_name": name,
                "attendance": p["attendance"],
                "dropped_in": p["dropped_in"],
            }
            for p, name in zip(people, names, strict=True)
        ],
    }


async def completion(
    q: CompletionQuery, ctx: QueryContext, *, required_share: float
) -> dict[str, Any]:
    found(
        await store.load_programme(ctx.conn, q.programme_id),
        "programme",
        "programme_id",
        site=ctx.sites,
    )
    held = await views.sessions_held(ctx.conn, q.programme_id)
    return {
        "programme_id": str(q.programme_id),
        "sessions_held": held,
        "required_share": required_share,
        "participants": [
            {
                "person_id": person_id,
                "status": status,
                "attended": attended,
                "attendance_rate": round(attendance_rate(attended, held), 3),
                "completed": completed(attended, held, required_share),
            }
            for person_id, status, attended in await views.participants_attended(
                ctx.conn, q.programme_id
            )
        ],
    }


async def calendar(q: CalendarQuery, ctx: QueryContext) -> dict[str, Any]:
    return {
        "from": q.from_date.isoformat(),
        "to": q.to_date.isoformat(),
        "sessions": await views.calendar_view(ctx.conn, sorted(ctx.sites), q.from_date, q.to_date),
    }


async def person_enrolments(q: PersonEnrolmentsQuery, ctx: QueryContext) -> dict[str, Any]:
    """Ids, programmes and dates only: names are intake's to give."""
    return {
        "person_id": str(q.person_id),
        **await views.person_enrolments_view(ctx.conn, q.person_id, sorted(ctx.sites)),
    }


async def person_data(q: PersonDataQuery, ctx: QueryContext) -> dict[str, Any]:
    """What groups holds about the person at the site and below it, for an access request;
    ids and what staff recorded (names are intake's)."""
    person_id = await person_of(ctx.conn, q.person_id)
    return {
        "person_id": str(person_id),
        "sites": sorted(ctx.sites),
        **await views.person_data_view(ctx.conn, person_id, sorted(ctx.sites)),
    }
