"""Intake's read side. Reads of personal data are written to the access log."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from services.intake import store, views
from shared.kit.bus.requests import QueryContext, request
from shared.kit.commands import found
from shared.kit.contracts.intake import (
    AccessLogQuery,
    AssessmentsQuery,
    CaseloadQuery,
    CaseQuery,
    CaseRecordQuery,
    ConsentQuery,
    FindPeople,
    HandoffsQuery,
    PersonQuery,
    ReferralsOverdue,
    ReferralsUndecided,
    RetentionRunsQuery,
    SafetyFollowups,
    SubjectAccessExport,
)
from shared.kit.contracts.messages import Query
from shared.kit.contracts.replies import CommandError


def _reader(q: Query, ctx: QueryContext) -> tuple[str, frozenset[str]]:
    """Who reads, for the access log: the verified sub and its roles."""
    if ctx.identity is not None:
        return ctx.identity.sub, ctx.identity.roles
    return q.actor or "unknown", frozenset()


async def _known_person(ctx: QueryContext, person_id: UUID) -> UUID:
    """The person's id, if known at the subject's site or below it (else ``not_found``); a
    merged duplicate's id resolves to the person it was merged into."""
    person = found(await store.load_person(ctx.conn, person_id), "person", "person_id")
    if not person.known_at(ctx.sites):
        raise CommandError.not_found("person", "person_id")
    return person.merged_into or person.person_id


async def _log(ctx: QueryContext, q: Query, person_ids: list[UUID], what: str) -> None:
    actor, roles = _reader(q, ctx)
    await views.log_access(ctx.conn, actor, roles, person_ids, ctx.site, what)


async def person(q: PersonQuery, ctx: QueryContext) -> dict[str, Any]:
    """The person's record; a merged duplicate's id gives the kept person's record."""
    person_id = await _known_person(ctx, q.person_id)
    async with ctx.conn.transaction():
        details = found(await views.person(ctx.conn, person_id), "person", "person_id")
        await _log(ctx, q, [person_id], "person")
        erased_on = await store.erased_on(ctx.conn, person_id)
        if erased_on is not None:
            return await _erased(ctx, details, erased_on)
        links = await views.carer_links(ctx.conn, person_id)
        cases = await views.cases_of(ctx.conn, person_id)
        merged = await views.merged_from(ctx.conn, person_id)
    me = str(person_id)
    return {
        **details,
        "merged_from": merged,
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


async def _erased(ctx: QueryContext, details: dict[str, Any], erased_on: date) -> dict[str, Any]:
    """An erased person's tombstone: the id, site, roles and dates, and their cases' ids and
    codes; no personal data is left to show."""
    person_id = UUID(details["person_id"])
    return {
        "person_id": details["person_id"],
        "site": details["site"],
        "roles": details["roles"],
        "registered_on": details["registered_on"],
        "erased": True,
        "erased_on": erased_on.isoformat(),
        "cases": await views.cases_of(ctx.conn, person_id),
    }


async def find_people(q: FindPeople, ctx: QueryContext) -> dict[str, Any]:
    async with ctx.conn.transaction():
        people = await views.find_people(ctx.conn, q.text.strip(), ctx.sites)
        await _log(ctx, q, [UUID(p["person_id"]) for p in people], "find_people")
    return {"people": people}


async def case(q: CaseQuery, ctx: QueryContext) -> dict[str, Any]:
    async with ctx.conn.transaction():
        details = found(await views.case(ctx.conn, q.case_id), "case", "case_id", site=ctx.sites)
        await _log(ctx, q, [UUID(details["person_id"])], "case")
        contacts = await views.contacts(ctx.conn, q.case_id)
        handoff = await views.latest_handoff(ctx.conn, q.case_id)
    return {**details, "contacts": contacts, "handoff": handoff}


async def case_record(q: CaseRecordQuery, ctx: QueryContext) -> dict[str, Any]:
    """The case with its notes, care plan (goals and their reviews) and its referral's
    screenings: personal data, so the read is access-logged."""
    async with ctx.conn.transaction():
        details = found(await views.case(ctx.conn, q.case_id), "case", "case_id", site=ctx.sites)
        await _log(ctx, q, [UUID(details["person_id"])], "case_record")
        notes = await views.case_notes(ctx.conn, q.case_id)
        goals = await views.care_plan(ctx.conn, q.case_id)
        referral = details["referral_id"]
        screened = [] if referral is None else await views.screenings(ctx.conn, UUID(referral))
    return {**details, "notes": notes, "goals": goals, "screenings": screened}


async def handoffs(q: HandoffsQuery, ctx: QueryContext) -> dict[str, Any]:
    """The transfers from the site and those below it not completed, or those with
    ``status``, oldest first (ids, sites and codes: no personal data)."""
    return {"handoffs": await views.handoffs(ctx.conn, ctx.sites, q.status)}


async def consent(q: ConsentQuery, ctx: QueryContext) -> dict[str, Any]:
    person_id = await _known_person(ctx, q.person_id)
    async with ctx.conn.transaction():
        history = await views.consent_history(ctx.conn, person_id)
        await _log(ctx, q, [person_id], "consent")
    current = {purpose: False for purpose in ("service", "outcome_data", "data_sharing")}
    for record in history:
        current[record["purpose"]] = record["given"]
    return {"person_id": str(person_id), "current": current, "history": history}


async def referrals_overdue(
    q: ReferralsOverdue, ctx: QueryContext, *, default_days: int
) -> dict[str, Any]:
    days = default_days if q.days is None else q.days
    today = datetime.now(ctx.zone).date()
    overdue = await views.urgent_referrals_received_before(
        ctx.conn, ctx.sites, today - timedelta(days=days)
    )
    return {"days": days, "referrals": overdue}


async def safety_followups(q: SafetyFollowups, ctx: QueryContext) -> dict[str, Any]:
    return {"followups": await views.open_safety_followups(ctx.conn, ctx.sites, q.worker_id)}


async def referrals_undecided(q: ReferralsUndecided, ctx: QueryContext) -> dict[str, Any]:
    """The site's (and those below it) referrals still to decide: urgent first, oldest first."""
    today = datetime.now(ctx.zone).date()
    statuses = ["received", "waitlisted"] if q.include_waitlisted else ["received"]
    listed = await views.undecided_referrals(ctx.conn, ctx.sites, statuses, q.urgency, today)
    return {"referrals": listed}


async def caseload(q: CaseloadQuery, ctx: QueryContext) -> dict[str, Any]:
    async with ctx.conn.transaction():
        cases = await views.caseload(ctx.conn, ctx.sites, q.worker_id)
        await _log(ctx, q, [UUID(c["person_id"]) for c in cases], "caseload")
    return {"worker_id": q.worker_id, "cases": cases}


async def assessments(q: AssessmentsQuery, ctx: QueryContext) -> dict[str, Any]:
    """The person's assessments at any site (a score follows the person), if the person is
    known at the subject's site or below it."""
    await _known_person(ctx, q.person_id)
    async with ctx.conn.transaction():
        listed = await views.assessments_of(ctx.conn, q.person_id, q.instrument)
        await _log(ctx, q, [q.person_id], "assessments")
    return {"person_id": str(q.person_id), "assessments": listed}


async def access_log(q: AccessLogQuery, ctx: QueryContext) -> dict[str, Any]:
    """Reads of personal data made at the site and the sites below it."""
    return {"entries": await views.access_log(ctx.conn, ctx.sites, q.person_id, q.limit)}


# --- access requests (issue 17) -------------------------------------------------------------

HOLDERS = ("groups", "volunteers", "reporting")
"""The services asked for what they hold about a person (their ``person_data`` query)."""
HOLDER_TIMEOUT = 5.0


async def _held_by(ctx: QueryContext, service: str, person_id: UUID) -> dict[str, Any]:
    """What ``service`` holds about the person, asked with the caller's own token (the
    service checks the caller's right itself); ``unavailable`` with why, when it cannot say."""
    reply = await request(
        ctx.nats,
        "qry",
        ctx.site,
        service,
        "person_data",
        {"person_id": str(person_id)},
        timeout=HOLDER_TIMEOUT,
        no_responders_patience=1.0,
        token=ctx.token,
    )
    if reply.ok and reply.result is not None:
        return {"status": "complete", **reply.result}
    error = reply.error
    return {
        "status": "unavailable",
        "error": {
            "code": error.code if error else "internal",
            "message": error.message if error else "no answer",
        },
    }


async def subject_access_export(q: SubjectAccessExport, ctx: QueryContext) -> dict[str, Any]:
    """Everything every service holds about the person, as one document (the contract's
    docstring says what is in it); the export is written to the access log before anything
    is read, so it lists itself."""
    person_id = await _known_person(ctx, q.person_id)
    async with ctx.conn.transaction():
        await _log(ctx, q, [person_id], "subject_access_export")
        held = await views.everything_about(ctx.conn, person_id)
    others = await asyncio.gather(*(_held_by(ctx, s, person_id) for s in HOLDERS))
    services = {"intake": {"status": "complete", "person_id": str(person_id), **held}}
    services.update(zip(HOLDERS, others, strict=True))
    unavailable = [name for name, part in services.items() if part["status"] != "complete"]
    return {
        "person_id": str(person_id),
        "asked_for": str(q.person_id),
        "exported_at": datetime.now(UTC).isoformat(),
        "exported_by": _reader(q, ctx)[0],
        "site": ctx.site,
        "sites": sorted(ctx.sites),
        "complete": not unavailable,
        "unavailable": unavailable,
        "services": services,
    }


async def retention_runs(q: RetentionRunsQuery, ctx: QueryContext) -> dict[str, Any]:
    """What the retention rule erased at the site and those below it, latest runs first (ids
    only: the people are erased)."""
    return {"runs": await views.retention_runs(ctx.conn, ctx.sites, q.limit)}
