"""Intake's read side. Reads of personal data are written to the access log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from shared.kit.bus.requests import QueryContext
from shared.kit.contracts.intake import (
    AccessLogQuery,
    CaseQuery,
    ConsentQuery,
    FindPeople,
    PersonQuery,
    ReferralsOverdue,
    SafetyFollowups,
)
from shared.kit.contracts.replies import CommandError


def _jsonable(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        elif isinstance(value, list | tuple):
            out[key] = list(value)
        elif value is None or isinstance(value, bool | int | float | str):
            out[key] = value
        else:
            out[key] = str(value)
    return out


async def _log_access(
    conn: asyncpg.Connection, actor: str, person_ids: list[Any], site: str, what: str
) -> None:
    await conn.executemany(
        "INSERT INTO access_log (actor, person_id, site, what) VALUES ($1, $2, $3, $4)",
        [(actor, person_id, site, what) for person_id in person_ids],
    )


async def person(q: PersonQuery, ctx: QueryContext) -> dict[str, Any]:
    async with ctx.conn.transaction():
        row = await ctx.conn.fetchrow(
            """SELECT person_id, site, preferred_name, legal_name, sex, birth_year, phone,
                      language, address, roles, registered_on
               FROM people WHERE person_id = $1""",
            q.person_id,
        )
        if row is None:
            raise CommandError("not_found", "no such person", person_id="unknown person")
        await _log_access(ctx.conn, q.actor, [q.person_id], ctx.site, "person")
        carers = await ctx.conn.fetch(
            """SELECT carer_id, cared_for_id, relationship FROM carer_links
               WHERE carer_id = $1 OR cared_for_id = $1 ORDER BY linked_on""",
            q.person_id,
        )
        cases = await ctx.conn.fetch(
            """SELECT case_id, site, status, worker_id, opened_on, closed_on FROM cases
               WHERE person_id = $1 ORDER BY opened_on, created_at""",
            q.person_id,
        )
    return {
        **_jsonable(row),
        "cares_for": [
            {"person_id": str(c["cared_for_id"]), "relationship": c["relationship"]}
            for c in carers
            if c["carer_id"] == q.person_id
        ],
        "carers": [
            {"person_id": str(c["carer_id"]), "relationship": c["relationship"]}
            for c in carers
            if c["cared_for_id"] == q.person_id
        ],
        "cases": [_jsonable(c) for c in cases],
    }


async def find_people(q: FindPeople, ctx: QueryContext) -> dict[str, Any]:
    text = q.text.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    async with ctx.conn.transaction():
        rows = await ctx.conn.fetch(
            """SELECT person_id, site, preferred_name, legal_name, birth_year, phone, roles
               FROM people
               WHERE preferred_name ILIKE $1 OR legal_name ILIKE $1
                  OR (length($2) >= 4 AND phone_digits LIKE '%' || $2 || '%')
               ORDER BY preferred_name LIMIT 50""",
            pattern,
            digits,
        )
        await _log_access(ctx.conn, q.actor, [r["person_id"] for r in rows], ctx.site, "search")
    return {"people": [_jsonable(r) for r in rows]}


async def case(q: CaseQuery, ctx: QueryContext) -> dict[str, Any]:
    row = await ctx.conn.fetchrow(
        """SELECT case_id, person_id, site, worker_id, referral_id, kind, status, opened_on,
                  closed_on, close_reason, transferred_from_case_id, transferred_to_case_id
           FROM cases WHERE case_id = $1""",
        q.case_id,
    )
    if row is None:
        raise CommandError("not_found", "no such case", case_id="unknown case")
    contacts = await ctx.conn.fetch(
        """SELECT contact_id, mode, minutes, contact_on FROM case_contacts
           WHERE case_id = $1 ORDER BY contact_on""",
        q.case_id,
    )
    return {**_jsonable(row), "contacts": [_jsonable(c) for c in contacts]}


async def consent(q: ConsentQuery, ctx: QueryContext) -> dict[str, Any]:
    if not await ctx.conn.fetchval("SELECT 1 FROM people WHERE person_id = $1", q.person_id):
        raise CommandError("not_found", "no such person", person_id="unknown person")
    history = await ctx.conn.fetch(
        """SELECT purpose, given, recorded_on, recorded_by, recorded_at, site FROM consents
           WHERE person_id = $1 ORDER BY recorded_at""",
        q.person_id,
    )
    current = {purpose: False for purpose in ("service", "outcome_data", "data_sharing")}
    for record in history:
        current[record["purpose"]] = record["given"]
    return {
        "person_id": str(q.person_id),
        "current": current,
        "history": [_jsonable(h) for h in history],
    }


async def referrals_overdue(
    q: ReferralsOverdue, ctx: QueryContext, *, default_days: int
) -> dict[str, Any]:
    days = default_days if q.days is None else q.days
    from datetime import datetime

    today = datetime.now(ctx.zone).date()
    rows = await ctx.conn.fetch(
        """SELECT referral_id, source, urgency, person_id, received_on FROM referrals
           WHERE site = $1 AND status = 'received' AND urgency = 'urgent'
             AND received_on < $2
           ORDER BY received_on""",
        ctx.site,
        today - timedelta(days=days),
    )
    return {"days": days, "referrals": [_jsonable(r) for r in rows]}


async def safety_followups(q: SafetyFollowups, ctx: QueryContext) -> dict[str, Any]:
    rows = await ctx.conn.fetch(
        """SELECT a.assessment_id, a.person_id, a.instrument, a.score, a.band, a.assessed_on,
                  c.worker_id
           FROM assessments a
           LEFT JOIN cases c ON c.person_id = a.person_id AND c.status = 'open'
                            AND c.site = a.site
           WHERE a.site = $1 AND a.safety_followup AND a.acknowledged_at IS NULL
             AND ($2::text IS NULL OR c.worker_id = $2)
           ORDER BY a.assessed_on""",
        ctx.site,
        q.worker_id,
    )
    return {"followups": [_jsonable(r) for r in rows]}


async def access_log(q: AccessLogQuery, ctx: QueryContext) -> dict[str, Any]:
    rows = await ctx.conn.fetch(
        """SELECT actor, person_id, site, what, accessed_at FROM access_log
           WHERE ($1::uuid IS NULL OR person_id = $1)
           ORDER BY access_id DESC LIMIT $2""",
        q.person_id,
        q.limit,
    )
    return {"entries": [_jsonable(r) for r in rows]}
