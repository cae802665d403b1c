"""Intake's SQL for its queries (the commands' SQL is in ``store.py``): rows as JSON-ready
dicts, and the access log every read of personal data writes."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg


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


async def log_access(
    conn: asyncpg.Connection,
    actor: str,
    roles: Iterable[str],
    person_ids: list[UUID],
    site: str,
    what: str,
) -> None:
    """One entry per person read: who (the verified sub and its roles), by which query, at
    which site; ``accessed_at`` is when."""
    held = sorted(roles)
    await conn.executemany(
        """INSERT INTO access_log (actor, roles, person_id, site, what)
           VALUES ($1, $2, $3, $4, $5)""",
        [(actor, held, person_id, site, what) for person_id in person_ids],
    )


async def person(conn: asyncpg.Connection, person_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT person_id, site, preferred_name, legal_name, sex, birth_year, phone,
                  language, address, roles, registered_on
           FROM people WHERE person_id = $1""",
        person_id,
    )
    return _jsonable(row) if row else None


async def merged_from(conn: asyncpg.Connection, person_id: UUID) -> list[str]:
    """The duplicates merged into the person, oldest merge first."""
    found = await conn.fetch(
        "SELECT duplicate_id FROM person_merges WHERE into_id = $1 ORDER BY merged_at", person_id
    )
    return [str(r["duplicate_id"]) for r in found]


async def carer_links(conn: asyncpg.Connection, person_id: UUID) -> list[dict[str, Any]]:
    """The person's links as carer and as cared-for, oldest first."""
    links = await conn.fetch(
        """SELECT carer_id, cared_for_id, relationship FROM carer_links
           WHERE carer_id = $1 OR cared_for_id = $1 ORDER BY linked_on""",
        person_id,
    )
    return [_jsonable(link) for link in links]


async def cases_of(conn: asyncpg.Connection, person_id: UUID) -> list[dict[str, Any]]:
    cases = await conn.fetch(
        """SELECT case_id, site, status, worker_id, opened_on, closed_on FROM cases
           WHERE person_id = $1 ORDER BY opened_on, created_at""",
        person_id,
    )
    return [_jsonable(c) for c in cases]


async def find_people(
    conn: asyncpg.Connection, text: str, sites: Collection[str]
) -> list[dict[str, Any]]:
    """Up to 50 people known at ``sites`` (registered there or with a case there) whose name
    contains ``text`` or whose phone contains its digits (4 or more of them)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    people = await conn.fetch(
        """SELECT person_id, site, preferred_name, legal_name, birth_year, phone, roles
           FROM people p
           WHERE (preferred_name ILIKE $1 OR legal_name ILIKE $1
                  OR (length($2) >= 4 AND phone_digits LIKE '%' || $2 || '%'))
             AND p.merged_into IS NULL
             AND (p.site = ANY($3::text[])
                  OR EXISTS (SELECT 1 FROM cases c
                             WHERE c.person_id = p.person_id AND c.site = ANY($3::text[])))
           ORDER BY preferred_name LIMIT 50""",
        pattern,
        digits,
        sorted(sites),
    )
    return [_jsonable(p) for p in people]


async def case(conn: asyncpg.Connection, case_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT case_id, person_id, site, worker_id, referral_id, kind, status, opened_on,
                  closed_on, close_reason, transferred_from_case_id, transferred_to_case_id
           FROM cases WHERE case_id = $1""",
        case_id,
    )
    return _jsonable(row) if row else None


_HANDOFF = """handoff_id, case_id, from_site, to_site, worker_id, transferred_on, status,
              attempts, last_error, new_case_id, created_at AS since, next_attempt_at,
              completed_at"""


async def latest_handoff(conn: asyncpg.Connection, case_id: UUID) -> dict[str, Any] | None:
    """Where the case's latest transfer to another site stands, or None."""
    row = await conn.fetchrow(
        f"""SELECT {_HANDOFF} FROM handoffs WHERE case_id = $1
            ORDER BY created_at DESC LIMIT 1""",
        case_id,
    )
    return _jsonable(row) if row else None


async def handoffs(
    conn: asyncpg.Connection, sites: Collection[str], status: str | None
) -> list[dict[str, Any]]:
    """The handoffs from ``sites`` with ``status``, or all not completed; oldest first."""
    found = await conn.fetch(
        f"""SELECT {_HANDOFF} FROM handoffs
            WHERE from_site = ANY($1::text[])
              AND (status = $2 OR ($2::text IS NULL AND status <> 'completed'))
            ORDER BY created_at LIMIT 1000""",
        sorted(sites),
        status,
    )
    return [_jsonable(h) for h in found]


async def contacts(conn: asyncpg.Connection, case_id: UUID) -> list[dict[str, Any]]:
    logged = await conn.fetch(
        """SELECT contact_id, mode, minutes, contact_on, voided_on FROM case_contacts
           WHERE case_id = $1 ORDER BY contact_on""",
        case_id,
    )
    return [_jsonable(c) for c in logged]


async def consent_history(conn: asyncpg.Connection, person_id: UUID) -> list[dict[str, Any]]:
    """Every consent record of the person, oldest first."""
    history = await conn.fetch(
        """SELECT purpose, given, recorded_on, recorded_by, recorded_at, site FROM consents
           WHERE person_id = $1 ORDER BY recorded_at""",
        person_id,
    )
    return [_jsonable(h) for h in history]


async def urgent_referrals_received_before(
    conn: asyncpg.Connection, sites: Collection[str], day: date
) -> list[dict[str, Any]]:
    """The urgent referrals of ``sites`` still undecided that were received before ``day``."""
    referrals = await conn.fetch(
        """SELECT referral_id, site, source, urgency, person_id, received_on FROM referrals
           WHERE site = ANY($1::text[]) AND status = 'received' AND urgency = 'urgent'
             AND received_on < $2
           ORDER BY received_on""",
        sorted(sites),
        day,
    )
    return [_jsonable(r) for r in referrals]


async def undecided_referrals(
    conn: asyncpg.Connection,
    sites: Collection[str],
    statuses: list[str],
    urgency: str | None,
    today: date,
) -> list[dict[str, Any]]:
    """Referrals of ``sites`` with one of ``statuses`` (of ``urgency``, if given): urgent
    first, then the oldest; each with its age in days (ids and codes only)."""
    referrals = await conn.fetch(
        """SELECT referral_id, site, source, urgency, status, person_id, received_on,
                  decided_on AS waitlisted_on, ($4::date - received_on) AS age_days
           FROM referrals
           WHERE site = ANY($1::text[]) AND status = ANY($2::text[])
             AND ($3::text IS NULL OR urgency = $3)
           ORDER BY urgency = 'urgent' DESC, received_on, referral_id
           LIMIT 1000""",
        sorted(sites),
        statuses,
        urgency,
        today,
    )
    return [_jsonable(r) for r in referrals]


async def caseload(
    conn: asyncpg.Connection, sites: Collection[str], worker_id: str
) -> list[dict[str, Any]]:
    """The worker's open (or transferring) cases at ``sites``, oldest first, with the person's
    preferred name and the last contact not voided."""
    cases = await conn.fetch(
        """SELECT c.case_id, c.person_id, p.preferred_name, c.site, c.kind, c.status,
                  c.opened_on,
                  (SELECT max(cc.contact_on) FROM case_contacts cc
                   WHERE cc.case_id = c.case_id AND cc.voided_on IS NULL) AS last_contact_on
           FROM cases c JOIN people p USING (person_id)
           WHERE c.worker_id = $2 AND c.site = ANY($1::text[])
             AND c.status IN ('open', 'transferring')
           ORDER BY c.opened_on, c.created_at""",
        sorted(sites),
        worker_id,
    )
    return [_jsonable(c) for c in cases]


async def assessments_of(
    conn: asyncpg.Connection, person_id: UUID, instrument: str | None
) -> list[dict[str, Any]]:
    """The person's assessments (of ``instrument``, if given), oldest first, void ones with
    when and why."""
    found = await conn.fetch(
        """SELECT assessment_id, site, instrument, timepoint, score::float8 AS score, band,
                  safety_followup, assessed_on, voided_on IS NOT NULL AS voided, voided_on,
                  void_reason
           FROM assessments
           WHERE person_id = $1 AND ($2::text IS NULL OR instrument = $2)
           ORDER BY assessed_on, assessment_id""",
        person_id,
        instrument,
    )
    return [_jsonable(a) for a in found]


async def open_safety_followups(
    conn: asyncpg.Connection, sites: Collection[str], worker_id: str | None
) -> list[dict[str, Any]]:
    """The unacknowledged safety follow-ups of ``sites``, with the worker of the person's open
    case at the assessment's site; only that worker's with ``worker_id``."""
    followups = await conn.fetch(
        """SELECT a.assessment_id, a.site, a.person_id, a.instrument, a.score, a.band,
                  a.assessed_on, c.worker_id
           FROM assessments a
           LEFT JOIN cases c ON c.person_id = a.person_id
                            AND c.status IN ('open', 'transferring')
                            AND c.site = a.site
           WHERE a.site = ANY($1::text[]) AND a.safety_followup AND a.acknowledged_at IS NULL
             AND a.voided_on IS NULL
             AND ($2::text IS NULL OR c.worker_id = $2)
           ORDER BY a.assessed_on""",
        sorted(sites),
        worker_id,
    )
    return [_jsonable(f) for f in followups]


async def access_log(
    conn: asyncpg.Connection, sites: Collection[str], person_id: UUID | None, limit: int
) -> list[dict[str, Any]]:
    """The latest ``limit`` reads made at ``sites``, newest first; only the person's with
    ``person_id``."""
    entries = await conn.fetch(
        """SELECT actor, roles, person_id, site, what, accessed_at FROM access_log
           WHERE site = ANY($1::text[]) AND ($2::uuid IS NULL OR person_id = $2)
           ORDER BY access_id DESC LIMIT $3""",
        sorted(sites),
        person_id,
        limit,
    )
    return [_jsonable(e) for e in entries]


async def case_notes(conn: asyncpg.Connection, case_id: UUID) -> list[dict[str, Any]]:
    """The case's notes, oldest first."""
    notes = await conn.fetch(
        """SELECT note_id, text, noted_on, written_by, written_at FROM case_notes
           WHERE case_id = $1 ORDER BY noted_on, written_at""",
        case_id,
    )
    return [_jsonable(n) for n in notes]


async def care_plan(conn: asyncpg.Connection, case_id: UUID) -> list[dict[str, Any]]:
    """The case's goals in the order they were set, each with its reviews, oldest first."""
    goals = await conn.fetch(
        """SELECT goal_id, text, status, set_on, set_by, ended_on, ended_by, end_note
           FROM goals WHERE case_id = $1 ORDER BY set_on, created_at""",
        case_id,
    )
    reviews = await conn.fetch(
        """SELECT r.goal_id, r.review_id, r.progress, r.note, r.reviewed_on, r.reviewed_by
           FROM goal_reviews r JOIN goals g USING (goal_id)
           WHERE g.case_id = $1 ORDER BY r.reviewed_on, r.reviewed_at""",
        case_id,
    )
    plan = {g["goal_id"]: {**_jsonable(g), "reviews": []} for g in goals}
    for review in reviews:
        row = _jsonable(review)
        plan[review["goal_id"]]["reviews"].append({k: v for k, v in row.items() if k != "goal_id"})
    return list(plan.values())


async def screenings(conn: asyncpg.Connection, referral_id: UUID) -> list[dict[str, Any]]:
    """The referral's screenings with their answers, oldest first."""
    done = await conn.fetch(
        """SELECT screening_id, screening, answers, total, band, flags, screened_on, screened_by
           FROM referral_screenings WHERE referral_id = $1 ORDER BY screened_at""",
        referral_id,
    )
    return [_jsonable(d) for d in done]


# --- access requests (issue 17) -------------------------------------------------------------


async def _rows(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [_jsonable(r) for r in await conn.fetch(sql, *args)]


async def everything_about(conn: asyncpg.Connection, person_id: UUID) -> dict[str, Any]:
    """Every row intake holds about the person (and the duplicates merged into them), for an
    access request: nothing left out but the search key derived from the phone and the
    bearer tokens of transfers in flight (credentials of staff, not data about the person)."""
    merged = await merged_from(conn, person_id)
    ids = [person_id, *(UUID(m) for m in merged)]
    people = await _rows(
        conn,
        """SELECT person_id, site, preferred_name, legal_name, sex, birth_year, phone, language,
                  address, roles, registered_on, registered_by, created_at, revision,
                  merged_into
           FROM people WHERE person_id = ANY($1::uuid[])
           ORDER BY person_id = $2 DESC, created_at""",
        ids,
        person_id,
    )
    referrals = await _rows(
        conn,
        "SELECT * FROM referrals WHERE person_id = ANY($1::uuid[]) ORDER BY received_on",
        ids,
    )
    for referral in referrals:
        referral["screenings"] = await screenings(conn, UUID(referral["referral_id"]))
    cases = await _rows(
        conn,
        """SELECT case_id, person_id, site, worker_id, referral_id, kind, status, opened_on,
                  closed_on, close_reason, transferred_from_case_id, transferred_to_case_id,
                  created_at
           FROM cases WHERE person_id = ANY($1::uuid[]) ORDER BY opened_on, created_at""",
        ids,
    )
    for case_row in cases:
        case_id = UUID(case_row["case_id"])
        case_row["contacts"] = await _rows(
            conn,
            """SELECT contact_id, mode, minutes, contact_on, logged_by, voided_on, voided_by,
                      void_reason
               FROM case_contacts WHERE case_id = $1 ORDER BY contact_on, contact_id""",
            case_id,
        )
        case_row["notes"] = await case_notes(conn, case_id)
        case_row["goals"] = await care_plan(conn, case_id)
        case_row["handoffs"] = await _rows(
            conn, f"SELECT {_HANDOFF} FROM handoffs WHERE case_id = $1 ORDER BY created_at", case_id
        )
    return {
        "person": people[0] if people else None,
        "merged_records": people[1:],
        "corrections": await _rows(
            conn,
            """SELECT change_id, person_id, site, fields, revision, changed_by, changed_at
               FROM person_changes WHERE person_id = ANY($1::uuid[]) ORDER BY change_id""",
            ids,
        ),
        "merges": await _rows(
            conn,
            """SELECT duplicate_id, into_id, site, reason, merged_on, merged_by, merged_at
               FROM person_merges WHERE duplicate_id = ANY($1::uuid[]) OR into_id = ANY($1::uuid[])
               ORDER BY merged_at""",
            ids,
        ),
        "carer_links": await _rows(
            conn,
            """SELECT link_id, carer_id, cared_for_id, relationship, site, linked_on, linked_by
               FROM carer_links WHERE carer_id = ANY($1::uuid[]) OR cared_for_id = ANY($1::uuid[])
               ORDER BY linked_on, link_id""",
            ids,
        ),
        "referrals": referrals,
        "consents": await _rows(
            conn,
            """SELECT consent_id, purpose, given, recorded_on, recorded_by, recorded_at, site
               FROM consents WHERE person_id = ANY($1::uuid[]) ORDER BY recorded_at""",
            ids,
        ),
        "cases": cases,
        "assessments": await _rows(
            conn,
            """SELECT assessment_id, site, instrument, timepoint, answers, score::float8 AS score,
                      band, safety_followup, assessed_on, recorded_by, acknowledged_by,
                      acknowledged_at, acknowledge_note, voided_on, voided_by, void_reason
               FROM assessments WHERE person_id = ANY($1::uuid[])
               ORDER BY assessed_on, assessment_id""",
            ids,
        ),
        # What groups and volunteers told intake, for the retention rule.
        "activity": {
            "last_active": await _rows(
                conn,
                """SELECT person_id, last_active_on FROM person_activity
                   WHERE person_id = ANY($1::uuid[]) ORDER BY person_id""",
                ids,
            ),
            "volunteer_ids": await _rows(
                conn,
                """SELECT volunteer_id, person_id FROM volunteer_people
                   WHERE person_id = ANY($1::uuid[]) ORDER BY volunteer_id""",
                ids,
            ),
            "peer_matches": await _rows(
                conn,
                """SELECT m.match_id, m.volunteer_id, m.person_id FROM peer_match_people m
                   LEFT JOIN volunteer_people v USING (volunteer_id)
                   WHERE m.person_id = ANY($1::uuid[]) OR v.person_id = ANY($1::uuid[])
                   ORDER BY m.match_id""",
                ids,
            ),
        },
        "outreach": {
            "linked": False,
            "note": "outreach contacts are counted per site and day, never linked to a person",
        },
        "access_log": await _rows(
            conn,
            """SELECT actor, roles, person_id, site, what, accessed_at FROM access_log
               WHERE person_id = ANY($1::uuid[]) ORDER BY access_id""",
            ids,
        ),
    }


async def retention_runs(
    conn: asyncpg.Connection, sites: Collection[str], limit: int
) -> list[dict[str, Any]]:
    """The latest ``limit`` retention runs at ``sites``, newest first."""
    runs = await conn.fetch(
        """SELECT site, run_on, cutoff, erased::text[] AS erased_people,
                  cardinality(erased) AS erased, ran_at
           FROM retention_runs WHERE site = ANY($1::text[])
           ORDER BY run_on DESC, site LIMIT $2""",
        sorted(sites),
        limit,
    )
    return [_jsonable(r) for r in runs]
