"""Intake's SQL for its commands: loading and saving people, carer links, referrals, consent,
cases, contacts, assessments and the case record (notes, goals, reviews, screenings). The
queries' reads are in ``views.py``."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from services.intake.domain import (
    PERSONAL_FIELDS,
    Assessment,
    Case,
    ConsentState,
    Contact,
    Correction,
    Goal,
    Handoff,
    OpenCaseAt,
    Person,
    PersonRecord,
    Referral,
)
from services.intake.domain import phone_digits as digits_of
from shared.agency.instruments import Score
from shared.agency.screenings import Screened
from shared.kit.contracts.intake import (
    AddCaseNote,
    EndGoal,
    LinkCarer,
    LogContact,
    LogOutreach,
    ReceiveReferral,
    ReceiveTransfer,
    RecordAssessment,
    RecordConsent,
    RegisterPerson,
    ReviewGoal,
    ScreenReferral,
    SetGoal,
    TransferredConsent,
    TransferredPerson,
)
from shared.kit.db import rows

HANDOFFS_CHANNEL = "carenet_handoffs_intake"
"""Notified when a handoff is stored (delivered at commit), so a relay sends it at once."""


async def load_person(
    conn: asyncpg.Connection, person_id: UUID, *, for_update: bool = False
) -> Person | None:
    """The person with the sites of their cases, or None; ``for_update`` locks the person's
    row until the transaction ends."""
    lock = " FOR UPDATE OF p" if for_update else ""
    row = await conn.fetchrow(
        f"""SELECT p.person_id, p.site, p.roles, p.merged_into, p.erased_on,
                   array(SELECT DISTINCT c.site FROM cases c
                         WHERE c.person_id = p.person_id) AS case_sites
            FROM people p WHERE p.person_id = $1{lock}""",
        person_id,
    )
    if row is None:
        return None
    return Person(
        row["person_id"],
        row["site"],
        tuple(row["roles"]),
        frozenset(row["case_sites"]),
        row["merged_into"],
        row["erased_on"],
    )


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
           WHERE birth_year = $1 AND merged_into IS NULL
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


async def running_cases(conn: asyncpg.Connection, person_id: UUID) -> list[OpenCaseAt]:
    """The person's cases still open or transferring, at any site."""
    found = await conn.fetch(
        """SELECT case_id, site, status FROM cases
           WHERE person_id = $1 AND status IN ('open', 'transferring')""",
        person_id,
    )
    return [OpenCaseAt(r["case_id"], r["site"], r["status"]) for r in found]


async def merge_person(
    conn: asyncpg.Connection,
    *,
    duplicate_id: UUID,
    into_id: UUID,
    roles: tuple[str, ...],
    site: str,
    reason: str,
    merged_on: date,
    merged_by: str,
) -> None:
    """Move every record of ``duplicate_id`` to ``into_id`` and leave the duplicate a pointer.
    Carer links the kept person already has, or that would link them to themselves, go."""
    await conn.execute(
        """DELETE FROM carer_links l
           WHERE (l.carer_id = $1 AND (l.cared_for_id = $2 OR EXISTS (
                      SELECT 1 FROM carer_links k
                      WHERE k.carer_id = $2 AND k.cared_for_id = l.cared_for_id)))
              OR (l.cared_for_id = $1 AND (l.carer_id = $2 OR EXISTS (
                      SELECT 1 FROM carer_links k
                      WHERE k.cared_for_id = $2 AND k.carer_id = l.carer_id)))""",
        duplicate_id,
        into_id,
    )
    await conn.execute(
        "UPDATE carer_links SET carer_id = $2 WHERE carer_id = $1", duplicate_id, into_id
    )
    await conn.execute(
        "UPDATE carer_links SET cared_for_id = $2 WHERE cared_for_id = $1", duplicate_id, into_id
    )
    for table in ("cases", "consents", "referrals", "assessments", "handoffs"):
        await conn.execute(
            f"UPDATE {table} SET person_id = $2 WHERE person_id = $1", duplicate_id, into_id
        )
    # Records merged into the duplicate earlier now point at the kept person: one hop always.
    await conn.execute(
        "UPDATE people SET merged_into = $2 WHERE merged_into = $1 OR person_id = $1",
        duplicate_id,
        into_id,
    )
    # After the row lock above: activity recorded for the duplicate meanwhile is seen here.
    await conn.execute(
        """INSERT INTO person_activity (person_id, last_active_on)
           SELECT $2, last_active_on FROM person_activity WHERE person_id = $1
           ON CONFLICT (person_id) DO UPDATE
           SET last_active_on = greatest(person_activity.last_active_on,
                                         EXCLUDED.last_active_on)""",
        duplicate_id,
        into_id,
    )
    await conn.execute("DELETE FROM person_activity WHERE person_id = $1", duplicate_id)
    for table in ("volunteer_people", "peer_match_people"):
        await conn.execute(
            f"UPDATE {table} SET person_id = $2 WHERE person_id = $1", duplicate_id, into_id
        )
    await rows.update(conn, "people", {"person_id": into_id}, roles=list(roles))
    await rows.insert(
        conn,
        "person_merges",
        duplicate_id=duplicate_id,
        into_id=into_id,
        site=site,
        reason=reason,
        merged_on=merged_on,
        merged_by=merged_by,
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
        """SELECT referral_id, status, received_on, person_id, site, decided_on FROM referrals
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


async def open_cases_of(conn: asyncpg.Connection, person_id: UUID) -> list[Case]:
    """The person's open cases at every site this intake keeps, locked until the transaction
    ends."""
    return await rows.fetch_all(
        conn,
        Case,
        """SELECT * FROM cases WHERE person_id = $1 AND status = 'open'
           ORDER BY opened_on, case_id FOR UPDATE""",
        person_id,
    )


async def pending_handoffs_of(conn: asyncpg.Connection, person_id: UUID) -> list[Handoff]:
    """The person's handoffs not yet answered, locked until the transaction ends (waiting for
    a relay that is sending one: its answer comes first)."""
    return await rows.fetch_all(
        conn,
        Handoff,
        f"""SELECT {_HANDOFF} FROM handoffs WHERE person_id = $1 AND status = 'pending'
            ORDER BY created_at, handoff_id FOR UPDATE""",
        person_id,
    )


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
        """SELECT case_id FROM cases
           WHERE person_id = $1 AND site = $2 AND status IN ('open', 'transferring')""",
        person_id,
        site,
    )


async def add_case(conn: asyncpg.Connection, case: Case) -> bool:
    """Add an open case; False if the person already has one open at its site (the unique
    index decides, so of two concurrent openings exactly one is added)."""
    return await rows.insert_once(
        conn,
        "cases",
        "(person_id, site) WHERE status IN ('open', 'transferring')",
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


async def save_case_transfer(conn: asyncpg.Connection, case: Case) -> None:
    """Save a case's place in a transfer: its status, end and the receiving site's case."""
    await rows.update(
        conn,
        "cases",
        {"case_id": case.case_id},
        status=case.status,
        closed_on=case.closed_on,
        close_reason=case.close_reason,
        transferred_to_case_id=case.transferred_to_case_id,
    )


# --- handoffs: the sending side ----------------------------------------------------------


async def add_handoff(
    conn: asyncpg.Connection, handoff: Handoff, *, actor: str, token: str | None
) -> None:
    """Store a pending handoff and wake the relays (at commit)."""
    await rows.insert(
        conn,
        "handoffs",
        handoff_id=handoff.handoff_id,
        case_id=handoff.case_id,
        person_id=handoff.person_id,
        from_site=handoff.from_site,
        to_site=handoff.to_site,
        worker_id=handoff.worker_id,
        transferred_on=handoff.transferred_on,
        actor=actor,
        token=token,
    )
    await conn.execute("SELECT pg_notify($1, '')", HANDOFFS_CHANNEL)


_HANDOFF = """handoff_id, case_id, person_id, from_site, to_site, worker_id, transferred_on,
              status, attempts, last_error, new_case_id"""


async def handoff_outcome(conn: asyncpg.Connection, handoff_id: UUID) -> Handoff | None:
    """The handoff as it stands (no lock)."""
    return await rows.fetch_one(
        conn, Handoff, f"SELECT {_HANDOFF} FROM handoffs WHERE handoff_id = $1", handoff_id
    )


async def claim_due_handoff(
    conn: asyncpg.Connection,
) -> tuple[Handoff, str, str | None] | None:
    """The pending handoff due longest ago that no other relay holds, locked until the
    transaction ends, with the actor and token to send it as; None when none is due."""
    row = await conn.fetchrow(
        f"""SELECT {_HANDOFF}, actor, token FROM handoffs
            WHERE status = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED"""
    )
    if row is None:
        return None
    values = dict(row)
    actor, token = values.pop("actor"), values.pop("token")
    return Handoff(**values), actor, token


async def seconds_to_next_handoff(conn: asyncpg.Connection) -> float | None:
    """How long until the next pending handoff is due (0 if one is), None if none waits."""
    seconds = await conn.fetchval(
        """SELECT greatest(extract(epoch FROM min(next_attempt_at) - now()), 0)::float8
           FROM handoffs WHERE status = 'pending'"""
    )
    return None if seconds is None else float(seconds)


async def transferred_person(conn: asyncpg.Connection, person_id: UUID) -> TransferredPerson:
    """The person's record, as the receiving site's intake takes it."""
    row = await conn.fetchrow(
        """SELECT site, preferred_name, legal_name, sex, birth_year, phone, language, address,
                  roles, registered_on
           FROM people WHERE person_id = $1""",
        person_id,
    )
    return TransferredPerson.model_validate(dict(row))


async def transferred_consents(
    conn: asyncpg.Connection, person_id: UUID
) -> list[TransferredConsent]:
    """Every consent record of the person, oldest first."""
    found = await conn.fetch(
        """SELECT consent_id, purpose, given, recorded_on, recorded_by, recorded_at, site
           FROM consents WHERE person_id = $1 ORDER BY recorded_at""",
        person_id,
    )
    return [TransferredConsent.model_validate(dict(row)) for row in found]


async def save_handoff(
    conn: asyncpg.Connection, handoff: Handoff, *, retry_in: float | None = None
) -> None:
    """Save an answered handoff (its token cleared), or one to send again in ``retry_in``
    seconds."""
    if retry_in is not None:
        await conn.execute(
            """UPDATE handoffs SET attempts = $2, last_error = $3,
                      next_attempt_at = now() + make_interval(secs => $4)
               WHERE handoff_id = $1""",
            handoff.handoff_id,
            handoff.attempts,
            handoff.last_error,
            retry_in,
        )
        return
    await conn.execute(
        """UPDATE handoffs SET status = $2, attempts = $3, last_error = $4, new_case_id = $5,
                  token = NULL, completed_at = now()
           WHERE handoff_id = $1""",
        handoff.handoff_id,
        handoff.status,
        handoff.attempts,
        handoff.last_error,
        handoff.new_case_id,
    )


# --- handoffs: the receiving side --------------------------------------------------------


async def add_transferred_person(
    conn: asyncpg.Connection, cmd: ReceiveTransfer, *, phone_digits: str | None
) -> None:
    """Register a person transferred in from another site's intake, under the same id."""
    person = cmd.person
    await rows.insert(
        conn,
        "people",
        person_id=cmd.person_id,
        site=person.site,
        preferred_name=person.preferred_name,
        legal_name=person.legal_name,
        sex=person.sex,
        birth_year=person.birth_year,
        phone=person.phone,
        phone_digits=phone_digits,
        language=person.language,
        address=person.address,
        roles=list(person.roles),
        registered_on=person.registered_on,
        registered_by=cmd.actor,
    )


async def load_person_record(conn: asyncpg.Connection, person_id: UUID) -> PersonRecord | None:
    """The person's record, locked until the transaction ends; or None."""
    row = await conn.fetchrow(
        f"""SELECT person_id, site, roles, revision, {", ".join(PERSONAL_FIELDS)}
            FROM people WHERE person_id = $1 FOR UPDATE""",
        person_id,
    )
    if row is None:
        return None
    return PersonRecord(
        row["person_id"],
        row["site"],
        tuple(row["roles"]),
        row["revision"],
        {f: row[f] for f in PERSONAL_FIELDS},
    )


async def save_correction(
    conn: asyncpg.Connection,
    person: PersonRecord,
    correction: Correction,
    *,
    site: str,
    changed_by: str,
) -> int:
    """Save the corrected fields and log who changed which (names, not values); the person's
    new revision."""
    values = dict(correction.values)
    if "phone" in values:
        values["phone_digits"] = digits_of(values["phone"])
    revision = person.revision + 1
    await rows.update(conn, "people", {"person_id": person.person_id}, revision=revision, **values)
    await rows.insert(
        conn,
        "person_changes",
        person_id=person.person_id,
        site=site,
        fields=correction.fields,
        revision=revision,
        changed_by=changed_by,
    )
    return revision


async def save_roles(conn: asyncpg.Connection, person: Person, roles: tuple[str, ...]) -> None:
    await rows.update(conn, "people", {"person_id": person.person_id}, roles=list(roles))


async def add_transferred_consents(
    conn: asyncpg.Connection, person_id: UUID, consents: list[TransferredConsent]
) -> None:
    """Keep the sending site's consent records (each once, by id: two sites' intakes may share
    a database)."""
    if not consents:
        return
    await conn.executemany(
        """INSERT INTO consents (consent_id, person_id, purpose, given, recorded_on, recorded_by,
                                 site, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (consent_id) DO NOTHING""",
        [
            (
                c.consent_id,
                person_id,
                c.purpose,
                c.given,
                c.recorded_on,
                c.recorded_by,
                c.site,
                c.recorded_at,
            )
            for c in consents
        ],
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


async def add_outreach(
    conn: asyncpg.Connection, cmd: LogOutreach, *, outreach_id: UUID, site: str, outreach_on: date
) -> None:
    await rows.insert(
        conn,
        "outreach_contacts",
        outreach_id=outreach_id,
        site=site,
        count=cmd.count,
        mode=cmd.mode,
        minutes=cmd.minutes,
        outreach_on=outreach_on,
        logged_by=cmd.actor,
    )


async def load_contact(conn: asyncpg.Connection, contact_id: UUID) -> Contact | None:
    """The contact with its case's person and site, locked until the transaction ends."""
    return await rows.fetch_one(
        conn,
        Contact,
        """SELECT cc.contact_id, cc.case_id, c.person_id, c.site, cc.voided_on
           FROM case_contacts cc JOIN cases c USING (case_id)
           WHERE cc.contact_id = $1 FOR UPDATE OF cc""",
        contact_id,
    )


async def save_contact_void(
    conn: asyncpg.Connection, contact: Contact, *, by: str, reason: str
) -> None:
    await rows.update(
        conn,
        "case_contacts",
        {"contact_id": contact.contact_id},
        voided_on=contact.voided_on,
        voided_by=by,
        void_reason=reason,
    )


async def save_assessment_void(
    conn: asyncpg.Connection, assessment: Assessment, *, by: str, reason: str
) -> None:
    await rows.update(
        conn,
        "assessments",
        {"assessment_id": assessment.assessment_id},
        voided_on=assessment.voided_on,
        voided_by=by,
        void_reason=reason,
    )


async def save_worker(conn: asyncpg.Connection, case: Case) -> None:
    await rows.update(conn, "cases", {"case_id": case.case_id}, worker_id=case.worker_id)


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
                  acknowledge_note, site, instrument, voided_on
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


async def add_case_note(
    conn: asyncpg.Connection, cmd: AddCaseNote, *, note_id: UUID, noted_on: date
) -> None:
    await rows.insert(
        conn,
        "case_notes",
        note_id=note_id,
        case_id=cmd.case_id,
        text=cmd.text,
        noted_on=noted_on,
        written_by=cmd.actor,
    )


async def add_goal(conn: asyncpg.Connection, goal: Goal, cmd: SetGoal) -> None:
    await rows.insert(
        conn,
        "goals",
        goal_id=goal.goal_id,
        case_id=goal.case_id,
        person_id=goal.person_id,
        site=goal.site,
        text=cmd.text,
        set_on=goal.set_on,
        set_by=cmd.actor,
    )


async def load_goal(conn: asyncpg.Connection, goal_id: UUID) -> Goal | None:
    """The goal, locked until the transaction ends; or None."""
    return await rows.fetch_one(
        conn,
        Goal,
        """SELECT goal_id, case_id, person_id, site, status, set_on, ended_on
           FROM goals WHERE goal_id = $1 FOR UPDATE""",
        goal_id,
    )


async def add_goal_review(
    conn: asyncpg.Connection, cmd: ReviewGoal, *, review_id: UUID, reviewed_on: date
) -> None:
    await rows.insert(
        conn,
        "goal_reviews",
        review_id=review_id,
        goal_id=cmd.goal_id,
        progress=cmd.progress,
        note=cmd.note,
        reviewed_on=reviewed_on,
        reviewed_by=cmd.actor,
    )


async def save_goal_end(conn: asyncpg.Connection, goal: Goal, cmd: EndGoal) -> None:
    await rows.update(
        conn,
        "goals",
        {"goal_id": goal.goal_id},
        status=goal.status,
        ended_on=goal.ended_on,
        ended_by=cmd.actor,
        end_note=cmd.note,
    )


async def add_screening(
    conn: asyncpg.Connection,
    cmd: ScreenReferral,
    *,
    screening_id: UUID,
    site: str,
    screened: Screened,
    screened_on: date,
) -> None:
    await rows.insert(
        conn,
        "referral_screenings",
        screening_id=screening_id,
        referral_id=cmd.referral_id,
        site=site,
        screening=cmd.screening,
        answers=list(cmd.answers),
        total=screened.total,
        band=screened.band,
        flags=list(screened.flags),
        screened_on=screened_on,
        screened_by=cmd.actor,
    )


# --- erasure and retention -----------------------------------------------------------------


async def erased_on(
    conn: asyncpg.Connection, person_id: UUID, *, lock: bool = False
) -> date | None:
    """When the person's personal data was erased; None if it was not (or no such person).
    ``lock`` holds the person's row (shared) until the transaction ends, so an erasure waits
    for what a command writes about them, and then clears it too (a collision, should they
    wait on each other, is run again by the request layer)."""
    erased: date | None = await conn.fetchval(
        "SELECT erased_on FROM people WHERE person_id = $1" + (" FOR SHARE" if lock else ""),
        person_id,
    )
    return erased


async def erase_person(
    conn: asyncpg.Connection, person_id: UUID, *, erased_on: date, reason: str
) -> None:
    """Erase the person's personal data and that of the duplicates merged into them, field by
    field: names, contact details, sex and birth year; the text of their referrals, case notes,
    goals, reviews, voids and merges; their answers to assessments and screenings (scores,
    bands and flags stay: figures and worklists count them). Ids, codes, dates, roles and the
    access log stay. Every person erased keeps a tombstone row (``erased_on``)."""
    await conn.execute(
        """UPDATE people SET preferred_name = NULL, legal_name = NULL, sex = NULL,
                  birth_year = NULL, phone = NULL, phone_digits = NULL, language = NULL,
                  address = NULL, erased_on = $2, erasure_reason = $3
           WHERE person_id = $1 OR merged_into = $1""",
        person_id,
        erased_on,
        reason,
    )
    await conn.execute(
        "UPDATE referrals SET reason = NULL, decision_reason = NULL WHERE person_id = $1",
        person_id,
    )
    await conn.execute(
        """UPDATE referral_screenings SET answers = '{}'
           WHERE referral_id IN (SELECT referral_id FROM referrals WHERE person_id = $1)""",
        person_id,
    )
    await conn.execute(
        """UPDATE assessments SET answers = '{}', acknowledge_note = NULL, void_reason = NULL
           WHERE person_id = $1""",
        person_id,
    )
    cases = "(SELECT case_id FROM cases WHERE person_id = $1)"
    await conn.execute(
        f"UPDATE case_contacts SET void_reason = NULL WHERE case_id IN {cases}", person_id
    )
    await conn.execute(f"UPDATE case_notes SET text = NULL WHERE case_id IN {cases}", person_id)
    await conn.execute(
        f"""UPDATE goal_reviews SET note = NULL
            WHERE goal_id IN (SELECT goal_id FROM goals
                              WHERE person_id = $1 OR case_id IN {cases})""",
        person_id,
    )
    await conn.execute(
        f"""UPDATE goals SET text = NULL, end_note = NULL
            WHERE person_id = $1 OR case_id IN {cases}""",
        person_id,
    )
    await conn.execute(
        "UPDATE person_merges SET reason = NULL WHERE into_id = $1 OR duplicate_id = $1",
        person_id,
    )
    await conn.execute(
        "UPDATE handoffs SET token = NULL, last_error = NULL WHERE person_id = $1", person_id
    )


async def lock_person(conn: asyncpg.Connection, person_id: UUID) -> None:
    """Hold the person's row until the transaction ends: no case opens, no text is written."""
    await conn.execute("SELECT 1 FROM people WHERE person_id = $1 FOR UPDATE", person_id)


async def kept_people(conn: asyncpg.Connection, person_ids: list[UUID]) -> list[UUID]:
    """``person_ids`` each resolved to the person kept when a duplicate was merged, in order,
    each once; each held (``FOR SHARE``) until the transaction ends, so a retention run that
    has not yet erased them waits and then sees what this transaction records."""
    if not person_ids:
        return []
    # Locked as read: a merge committing meanwhile is seen (its pointer), not missed.
    rows = await conn.fetch(
        """SELECT person_id, merged_into FROM people WHERE person_id = ANY($1::uuid[])
           ORDER BY person_id FOR SHARE""",
        person_ids,
    )
    kept = {row["person_id"]: row["merged_into"] or row["person_id"] for row in rows}
    resolved = list(dict.fromkeys(kept.get(p, p) for p in person_ids))
    if set(resolved) - set(person_ids):
        await conn.execute(
            """SELECT 1 FROM people WHERE person_id = ANY($1::uuid[])
               ORDER BY person_id FOR SHARE""",
            resolved,
        )
    return resolved


async def record_activity(conn: asyncpg.Connection, person_ids: list[UUID], on: date) -> None:
    """``on`` is the latest day these people were active, unless a later one is known."""
    await conn.executemany(
        """INSERT INTO person_activity (person_id, last_active_on) VALUES ($1, $2)
           ON CONFLICT (person_id) DO UPDATE
           SET last_active_on = greatest(person_activity.last_active_on,
                                         EXCLUDED.last_active_on)""",
        [(person_id, on) for person_id in person_ids],
    )


async def remember_volunteer(conn: asyncpg.Connection, volunteer_id: UUID, person_id: UUID) -> None:
    await conn.execute(
        """INSERT INTO volunteer_people (volunteer_id, person_id) VALUES ($1, $2)
           ON CONFLICT (volunteer_id) DO NOTHING""",
        volunteer_id,
        person_id,
    )


async def volunteer_person(conn: asyncpg.Connection, volunteer_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT person_id FROM volunteer_people WHERE volunteer_id = $1", volunteer_id
    )
    return found


async def remember_peer_match(
    conn: asyncpg.Connection, match_id: UUID, volunteer_id: UUID, person_id: UUID
) -> None:
    await conn.execute(
        """INSERT INTO peer_match_people (match_id, volunteer_id, person_id) VALUES ($1, $2, $3)
           ON CONFLICT (match_id) DO NOTHING""",
        match_id,
        volunteer_id,
        person_id,
    )


async def peer_match_people(conn: asyncpg.Connection, match_id: UUID) -> list[UUID]:
    """The supporter (when their volunteer record is known) and the person supported."""
    row = await conn.fetchrow(
        """SELECT v.person_id AS supporter, m.person_id FROM peer_match_people m
           LEFT JOIN volunteer_people v USING (volunteer_id) WHERE m.match_id = $1""",
        match_id,
    )
    if row is None:
        return []
    return [p for p in (row["supporter"], row["person_id"]) if p is not None]


async def claim_retention_run(
    conn: asyncpg.Connection, site: str, run_on: date, cutoff: date
) -> bool:
    """Claim the site's retention run of ``run_on``: False when it was claimed already (by
    another replica, or earlier today). A concurrent claim waits here for the first to end."""
    return bool(
        await conn.fetchval(
            """INSERT INTO retention_runs (site, run_on, cutoff) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            site,
            run_on,
            cutoff,
        )
    )


async def save_retention_run(
    conn: asyncpg.Connection, site: str, run_on: date, erased: list[UUID]
) -> None:
    await conn.execute(
        "UPDATE retention_runs SET erased = $3 WHERE site = $1 AND run_on = $2",
        site,
        run_on,
        erased,
    )


async def due_for_erasure(
    conn: asyncpg.Connection,
    site: str,
    cutoff: date,
    *,
    limit: int = 1000,
    only: UUID | None = None,
) -> list[UUID]:
    """People registered at ``site`` with no running case and nothing recorded about them on or
    after ``cutoff`` (registration, a case opened or closed, a referral, a consent, a contact,
    a note, an assessment, a carer link, a correction) nor reported active since by groups or
    volunteers (``person_activity``): the retention rule erases them. Merged duplicates go
    with the person they were merged into (their activity moved to that person).
    ``only``: that person, if due."""
    found = await conn.fetch(
        """SELECT p.person_id FROM people p
           WHERE p.site = $1 AND p.erased_on IS NULL AND p.merged_into IS NULL
             AND ($4::uuid IS NULL OR p.person_id = $4)
             AND p.registered_on < $2
             AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.person_id = p.person_id
                             AND (c.status IN ('open', 'transferring')
                                  OR c.opened_on >= $2 OR c.closed_on >= $2))
             AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.person_id = p.person_id
                             AND (r.status IN ('received', 'waitlisted')
                                  OR r.received_on >= $2 OR r.decided_on >= $2))
             AND NOT EXISTS (SELECT 1 FROM consents k WHERE k.person_id = p.person_id
                             AND k.recorded_on >= $2)
             AND NOT EXISTS (SELECT 1 FROM assessments a WHERE a.person_id = p.person_id
                             AND a.assessed_on >= $2)
             AND NOT EXISTS (SELECT 1 FROM case_contacts cc JOIN cases c USING (case_id)
                             WHERE c.person_id = p.person_id AND cc.contact_on >= $2)
             AND NOT EXISTS (SELECT 1 FROM case_notes n JOIN cases c USING (case_id)
                             WHERE c.person_id = p.person_id AND n.noted_on >= $2)
             AND NOT EXISTS (SELECT 1 FROM carer_links l
                             WHERE (l.carer_id = p.person_id OR l.cared_for_id = p.person_id)
                               AND l.linked_on >= $2)
             AND NOT EXISTS (SELECT 1 FROM person_changes ch WHERE ch.person_id = p.person_id
                             AND ch.changed_at >= $2)
             AND NOT EXISTS (SELECT 1 FROM person_activity pa
                             WHERE pa.person_id = p.person_id AND pa.last_active_on >= $2)
           ORDER BY p.registered_on, p.person_id
           LIMIT $3""",
        site,
        cutoff,
        limit,
        only,
    )
    return [row["person_id"] for row in found]
