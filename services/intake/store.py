"""Intake's SQL for its commands: loading and saving people, carer links, referrals, consent,
cases, contacts and assessments. The queries' reads are in ``views.py``."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from services.intake.domain import Assessment, Case, ConsentState, Person, Referral
from shared.agency.instruments import Score
from shared.kit.contracts.intake import (
    LinkCarer,
    LogContact,
    ReceiveReferral,
    RecordAssessment,
    RecordConsent,
    RegisterPerson,
)
from shared.kit.db import rows


async def load_person(
    conn: asyncpg.Connection, person_id: UUID, *, for_update: bool = False
) -> Person | None:
    """The person with the sites of their cases, or None; ``for_update`` locks the person's
    row until the transaction ends."""
    lock = " FOR UPDATE OF p" if for_update else ""
    row = await conn.fetchrow(
        f"""SELECT p.person_id, p.site, p.roles,
                   array(SELECT DISTINCT c.site FROM cases c
                         WHERE c.person_id = p.person_id) AS case_sites
            FROM people p WHERE p.person_id = $1{lock}""",
        person_id,
    )
    if row is None:
        return None
    return Person(row["person_id"], row["site"], tuple(row["roles"]), frozenset(row["case_sites"]))


async def possible_duplicates(
    conn: asyncpg.Connection,
    *,
    site: str,
    preferred_name: str,
    legal_name: str | None,
    birth_year: int | None,
    phone_digits: str | None,
) -> list[UUID]:
    """Same phone and birth year anywhere, or same name and birth year at the same site;
    without a birth year nobody is a possible duplicate."""
    if birth_year is None:
        return []
    found = await conn.fetch(
        """SELECT person_id FROM people
           WHERE birth_year = $1
             AND (($2::text IS NOT NULL AND phone_digits = $2)
                  OR (site = $3 AND (lower(preferred_name) = lower($4)
                                     OR lower(legal_name) = lower($4)
                                     OR ($5::text IS NOT NULL AND lower(legal_name) = lower($5)))))
           ORDER BY created_at""",
        birth_year,
        phone_digits,
        site,
        preferred_name,
        legal_name,
    )
    return [row["person_id"] for row in found]


async def add_person(
    conn: asyncpg.Connection,
    cmd: RegisterPerson,
    *,
    person_id: UUID,
    site: str,
    phone_digits: str | None,
    registered_on: date,
) -> None:
    await rows.insert(
        conn,
        "people",
        person_id=person_id,
        site=site,
        preferred_name=cmd.preferred_name,
        legal_name=cmd.legal_name,
        sex=cmd.sex,
        birth_year=cmd.birth_year,
        phone=cmd.phone,
        phone_digits=phone_digits,
        language=cmd.language,
        address=cmd.address,
        roles=list(cmd.roles),
        registered_on=registered_on,
        registered_by=cmd.actor,
    )


async def add_carer_link(
    conn: asyncpg.Connection, cmd: LinkCarer, *, link_id: UUID, site: str, linked_on: date
) -> bool:
    """Whether the link was added: False when the two people are already linked."""
    return await rows.insert_once(
        conn,
        "carer_links",
        "(carer_id, cared_for_id)",
        link_id=link_id,
        carer_id=cmd.carer_id,
        cared_for_id=cmd.cared_for_id,
        relationship=cmd.relationship,
        site=site,
        linked_on=linked_on,
        linked_by=cmd.actor,
    )


async def add_referral(
    conn: asyncpg.Connection,
    cmd: ReceiveReferral,
    *,
    referral_id: UUID,
    site: str,
    received_on: date,
) -> None:
    await rows.insert(
        conn,
        "referrals",
        referral_id=referral_id,
        site=site,
        source=cmd.source,
        reason=cmd.reason,
        urgency=cmd.urgency,
        person_id=cmd.person_id,
        received_on=received_on,
        received_by=cmd.actor,
    )


async def load_referral(conn: asyncpg.Connection, referral_id: UUID) -> Referral | None:
    """The referral, locked until the transaction ends; or None."""
    return await rows.fetch_one(
        conn,
        Referral,
        """SELECT referral_id, status, received_on, person_id, site FROM referrals
           WHERE referral_id = $1 FOR UPDATE""",
        referral_id,
    )


async def save_decision(
    conn: asyncpg.Connection,
    referral: Referral,
    *,
    reason: str | None,
    decided_on: date,
    decided_by: str,
) -> None:
    await rows.update(
        conn,
        "referrals",
        {"referral_id": referral.referral_id},
        status=referral.status,
        decision_reason=reason,
        decided_on=decided_on,
        decided_by=decided_by,
    )


async def add_consent(
    conn: asyncpg.Connection,
    cmd: RecordConsent,
    *,
    consent_id: UUID,
    site: str,
    recorded_on: date,
) -> None:
    await rows.insert(
        conn,
        "consents",
        consent_id=consent_id,
        person_id=cmd.person_id,
        purpose=cmd.purpose,
        given=cmd.given,
        recorded_on=recorded_on,
        recorded_by=cmd.actor,
        site=site,
    )


async def consent_state(conn: asyncpg.Connection, person_id: UUID) -> ConsentState:
    latest = await conn.fetch(
        """SELECT DISTINCT ON (purpose) purpose, given FROM consents
           WHERE person_id = $1 ORDER BY purpose, recorded_at DESC""",
        person_id,
    )
    return ConsentState({row["purpose"]: row["given"] for row in latest})


async def load_case(conn: asyncpg.Connection, case_id: UUID) -> Case | None:
    """The case, locked until the transaction ends; or None."""
    return await rows.fetch_one(
        conn, Case, "SELECT * FROM cases WHERE case_id = $1 FOR UPDATE", case_id
    )


async def has_had_case_at(conn: asyncpg.Connection, person_id: UUID, site: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE person_id = $1 AND site = $2)",
            person_id,
            site,
        )
    )


async def open_case_at(conn: asyncpg.Connection, person_id: UUID, site: str) -> UUID | None:
    return await conn.fetchval(
        "SELECT case_id FROM cases WHERE person_id = $1 AND site = $2 AND status = 'open'",
        person_id,
        site,
    )


async def add_case(conn: asyncpg.Connection, case: Case) -> bool:
    """Add an open case; False if the person already has one open at its site (the unique
    index decides, so of two concurrent openings exactly one is added)."""
    return await rows.insert_once(
        conn,
        "cases",
        "(person_id, site) WHERE status = 'open'",
        case_id=case.case_id,
        person_id=case.person_id,
        site=case.site,
        worker_id=case.worker_id,
        referral_id=case.referral_id,
        kind=case.kind,
        opened_on=case.opened_on,
        transferred_from_case_id=case.transferred_from_case_id,
    )


async def save_case_end(conn: asyncpg.Connection, case: Case) -> None:
    """Save a closed or transferred case's status, end date and reason."""
    await rows.update(
        conn,
        "cases",
        {"case_id": case.case_id},
        status=case.status,
        closed_on=case.closed_on,
        close_reason=case.close_reason,
    )


async def save_transferred_to(conn: asyncpg.Connection, case: Case) -> None:
    """Point a transferred case at the receiving site's case, once that case exists."""
    await rows.update(
        conn,
        "cases",
        {"case_id": case.case_id},
        transferred_to_case_id=case.transferred_to_case_id,
    )


async def add_contact(
    conn: asyncpg.Connection, cmd: LogContact, *, contact_id: UUID, contact_on: date
) -> None:
    await rows.insert(
        conn,
        "case_contacts",
        contact_id=contact_id,
        case_id=cmd.case_id,
        mode=cmd.mode,
        minutes=cmd.minutes,
        contact_on=contact_on,
        logged_by=cmd.actor,
    )


async def add_assessment(
    conn: asyncpg.Connection,
    cmd: RecordAssessment,
    *,
    assessment_id: UUID,
    site: str,
    scored: Score,
    assessed_on: date,
) -> None:
    await rows.insert(
        conn,
        "assessments",
        assessment_id=assessment_id,
        person_id=cmd.person_id,
        site=site,
        instrument=cmd.instrument,
        timepoint=cmd.timepoint,
        answers=list(cmd.answers),
        score=scored.score,
        band=scored.band,
        safety_followup=scored.safety_followup,
        assessed_on=assessed_on,
        recorded_by=cmd.actor,
    )


async def load_assessment(conn: asyncpg.Connection, assessment_id: UUID) -> Assessment | None:
    """The assessment, locked until the transaction ends; or None."""
    row = await conn.fetchrow(
        """SELECT assessment_id, person_id, safety_followup, acknowledged_by, acknowledged_at,
                  acknowledge_note, site
           FROM assessments WHERE assessment_id = $1 FOR UPDATE""",
        assessment_id,
    )
    return Assessment(**dict(row)) if row else None


async def save_acknowledgement(conn: asyncpg.Connection, assessment: Assessment) -> datetime:
    """Save who acknowledged the follow-up and their note; the time it was saved."""
    acknowledged_at: datetime = await conn.fetchval(
        """UPDATE assessments SET acknowledged_by = $2, acknowledged_at = now(),
                                  acknowledge_note = $3
           WHERE assessment_id = $1 RETURNING acknowledged_at""",
        assessment.assessment_id,
        assessment.acknowledged_by,
        assessment.acknowledge_note,
    )
    return acknowledged_at
