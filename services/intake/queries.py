"""Intake's read side. Reads of personal data are written to the access log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.intake import store, views
from shared.kit.bus.requests import QueryContext
from shared.kit.commands import found
from shared.kit.contracts.intake import (
    AccessLogQuery,
    CaseQuery,
    ConsentQuery,
    FindPeople,
    PersonQuery,
    ReferralsOverdue,
    SafetyFollowups,
)


async def person(q: PersonQuery, ctx: QueryContext) -> dict[str, Any]:
    async with ctx.conn.transaction():
        details = found(await views.person(ctx.conn, q.person_id), "person", "person_id")
        await views.log_access(ctx.conn, q.actor, [q.person_id], ctx.site, "person")
        links = await views.carer_links(ctx.conn, q.person_id)
        cases = await views.cases_of(ctx.conn, q.person_id)
    me = str(q.person_id)
    return {
        **details,
        "cares_for": [
            {"person_id": link["cared_for_id"], "relationship": link["relationship"]}
            for link in links
            if link["carer_id"] == me
        ],
        "carers": [
            {"person_id": link["carer_id"], "relationship": link["relationship"]}
            for link in links
            if link["cared_for_id"] == me
        ],
        "cases": cases,
    }


async def find_people(q: FindPeople, ctx: QueryContext) -> dict[str, Any]:
    async with ctx.conn.transaction():
        people = await views.find_people(ctx.conn, q.text.strip())
        seen = [UUID(p["person_id"]) for p in people]
        await views.log_access(ctx.conn, q.actor, seen, ctx.site, "search")
    return {"people": people}


async def case(q: CaseQuery, ctx: QueryContext) -> dict[str, Any]:
    details = found(await views.case(ctx.conn, q.case_id), "case", "case_id")
    return {**details, "contacts": await views.contacts(ctx.conn, q.case_id)}


async def consent(q: ConsentQuery, ctx: QueryContext) -> dict[str, Any]:
    found(await store.load_person(ctx.conn, q.person_id), "person", "person_id")
    history = await views.consent_history(ctx.conn, q.person_id)
    current = {purpose: False for purpose in ("service", "outcome_data", "data_sharing")}
    for record in history:
        current[record["purpose"]] = record["given"]
    return {"person_id": str(q.person_id), "current": current, "history": history}


async def referrals_overdue(
    q: ReferralsOverdue, ctx: QueryContext, *, default_days: int
) -> dict[str, Any]:
    days = default_days if q.days is None else q.days
    today = datetime.now(ctx.zone).date()
    overdue = await views.urgent_referrals_received_before(
        ctx.conn, ctx.site, today - timedelta(days=days)
    )
    return {"days": days, "referrals": overdue}


async def safety_followups(q: SafetyFollowups, ctx: QueryContext) -> dict[str, Any]:
    return {"followups": await views.open_safety_followups(ctx.conn, ctx.site, q.worker_id)}


async def access_log(q: AccessLogQuery, ctx: QueryContext) -> dict[str, Any]:
    return {"entries": await views.access_log(ctx.conn, q.person_id, q.limit)}
