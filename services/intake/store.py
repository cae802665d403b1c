"""Intake's SQL: loading and saving people, referrals, consent, cases and assessments."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import asyncpg

from services.intake.domain import Case, ConsentState, Referral


async def person_roles(conn: asyncpg.Connection, person_id: UUID) -> list[str] | None:
    roles = await conn.fetchval("SELECT roles FROM people WHERE person_id = $1", person_id)
    return list(roles) if roles is not None else None


async def possible_duplicates(
    conn: asyncpg.Connection,
    *,
    site: str,
    preferred_name: str,
    legal_name: str | None,
    birth_year: int | None,
    phone_digits: str | None,
) -> list[UUID]:
    """Same phone and birth year anywhere, or same name and birth year at the same site."""
    if birth_year is None:
        return []
    rows = await conn.fetch(
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
    return [row["person_id"] for row in rows]


async def load_referral(conn: asyncpg.Connection, referral_id: UUID) -> Referral | None:
    row = await conn.fetchrow(
        "SELECT referral_id, status, received_on FROM referrals WHERE referral_id = $1 FOR UPDATE",
        referral_id,
    )
    return Referral(row["referral_id"], row["status"], row["received_on"]) if row else None


async def referral_person(conn: asyncpg.Connection, referral_id: UUID) -> UUID | None:
    return await conn.fetchval(
        "SELECT person_id FROM referrals WHERE referral_id = $1", referral_id
    )


async def consent_state(conn: asyncpg.Connection, person_id: UUID) -> ConsentState:
    rows = await conn.fetch(
        """SELECT DISTINCT ON (purpose) purpose, given FROM consents
           WHERE person_id = $1 ORDER BY purpose, recorded_at DESC""",
        person_id,
    )
    return ConsentState({row["purpose"]: row["given"] for row in rows})


async def load_case(conn: asyncpg.Connection, case_id: UUID) -> Case | None:
    row = await conn.fetchrow(
        """SELECT case_id, person_id, site, status, opened_on, closed_on
           FROM cases WHERE case_id = $1 FOR UPDATE""",
        case_id,
    )
    if row is None:
        return None
    return Case(
        row["case_id"],
        row["person_id"],
        row["site"],
        row["status"],
        row["opened_on"],
        row["closed_on"],
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


async def insert_case(
    conn: asyncpg.Connection,
    *,
    case_id: UUID,
    person_id: UUID,
    site: str,
    worker_id: str,
    referral_id: UUID | None,
    kind: str,
    opened_on: date,
    transferred_from: UUID | None = None,
) -> bool:
    """Insert an open case; False if the person already has one open at the site."""
    inserted = await conn.fetchval(
        """INSERT INTO cases (case_id, person_id, site, worker_id, referral_id, kind,
                              opened_on, transferred_from_case_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (person_id, site) WHERE status = 'open' DO NOTHING
           RETURNING true""",
        case_id,
        person_id,
        site,
        worker_id,
        referral_id,
        kind,
        opened_on,
        transferred_from,
    )
    return bool(inserted)


async def save_case_end(
    conn: asyncpg.Connection,
    case: Case,
    *,
    closed_on: date,
    reason: str | None,
    transferred_to: UUID | None = None,
) -> None:
    await conn.execute(
        """UPDATE cases SET status = $2, closed_on = $3, close_reason = $4,
                            transferred_to_case_id = $5
           WHERE case_id = $1""",
        case.case_id,
        case.status,
        closed_on,
        reason,
        transferred_to,
    )
