"""Intake's command handlers: load, decide with the domain's rules, save, record events."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from services.intake import store
from services.intake.domain import age_band, phone_digits, require_service_consent
from shared.agency.instruments import AnswersInvalid, Instrument
from shared.agency.sites import Organisation
from shared.kit.contracts.intake import (
    AcknowledgeSafetyFollowup,
    AssessmentRecorded,
    CarerLinked,
    CaseClosed,
    CaseContactLogged,
    CaseKind,
    CaseOpened,
    CaseTransferred,
    CloseCase,
    ConsentRecorded,
    DecideReferral,
    LinkCarer,
    LogContact,
    OpenCase,
    PersonRegistered,
    ReceiveReferral,
    RecordAssessment,
    RecordConsent,
    ReferralDecided,
    ReferralReceived,
    RegisterPerson,
    SafetyFollowupAcknowledged,
    TransferCase,
)
from shared.kit.contracts.replies import CommandError, ErrorDetail
from shared.kit.db.uow import UnitOfWork


async def _person_must_exist(uow: UnitOfWork, person_id: UUID, field: str) -> list[str]:
    roles = await store.person_roles(uow.conn, person_id)
    if roles is None:
        raise CommandError.not_found("person", field)
    return roles


async def register_person(cmd: RegisterPerson, uow: UnitOfWork) -> dict[str, Any]:
    registered_on = uow.business_date(cmd.on)
    digits = phone_digits(cmd.phone)
    duplicates = await store.possible_duplicates(
        uow.conn,
        site=uow.site,
        preferred_name=cmd.preferred_name,
        legal_name=cmd.legal_name,
        birth_year=cmd.birth_year,
        phone_digits=digits,
    )
    if duplicates and not cmd.register_anyway:
        raise CommandError(
            "conflict",
            "this person may already be registered; check the people listed, or send again "
            "with register_anyway",
            [ErrorDetail(field="possible_duplicate", message=str(d)) for d in duplicates],
        )
    person_id = uuid4()
    await uow.conn.execute(
        """INSERT INTO people (person_id, site, preferred_name, legal_name, sex, birth_year,
                               phone, phone_digits, language, address, roles, registered_on,
                               registered_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        person_id,
        uow.site,
        cmd.preferred_name,
        cmd.legal_name,
        cmd.sex,
        cmd.birth_year,
        cmd.phone,
        digits,
        cmd.language,
        cmd.address,
        list(cmd.roles),
        registered_on,
        cmd.actor,
    )
    uow.record(
        PersonRegistered(
            person_id=person_id,
            roles=cmd.roles,
            age_band=age_band(cmd.birth_year, uow.today),
            sex=cmd.sex,
            registered_on=registered_on,
        ),
        subject=person_id,
    )
    return {"person_id": str(person_id), "possible_duplicates": [str(d) for d in duplicates]}


async def link_carer(cmd: LinkCarer, uow: UnitOfWork) -> dict[str, Any]:
    linked_on = uow.business_date(cmd.on)
    if cmd.carer_id == cmd.cared_for_id:
        raise CommandError(
            "validation_error", "a person cannot be their own carer", cared_for_id="same person"
        )
    carer_roles = await _person_must_exist(uow, cmd.carer_id, "carer_id")
    await _person_must_exist(uow, cmd.cared_for_id, "cared_for_id")
    if "family_carer" not in carer_roles:
        raise CommandError(
            "not_allowed",
            "the carer is not registered with the family_carer role",
            carer_id="not a family carer",
        )
    link_id = uuid4()
    inserted = await uow.conn.fetchval(
        """INSERT INTO carer_links (link_id, carer_id, cared_for_id, relationship, site,
                                    linked_on, linked_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (carer_id, cared_for_id) DO NOTHING RETURNING true""",
        link_id,
        cmd.carer_id,
        cmd.cared_for_id,
        cmd.relationship,
        uow.site,
        linked_on,
        cmd.actor,
    )
    if not inserted:
        raise CommandError(
            "conflict", "these two people are already linked", cared_for_id="already linked"
        )
    uow.record(
        CarerLinked(
            link_id=link_id,
            carer_id=cmd.carer_id,
            cared_for_id=cmd.cared_for_id,
            relationship=cmd.relationship,
            linked_on=linked_on,
        ),
        subject=link_id,
    )
    return {"link_id": str(link_id)}


async def receive_referral(cmd: ReceiveReferral, uow: UnitOfWork) -> dict[str, Any]:
    received_on = uow.business_date(cmd.on)
    if cmd.person_id is not None:
        await _person_must_exist(uow, cmd.person_id, "person_id")
    referral_id = uuid4()
    await uow.conn.execute(
        """INSERT INTO referrals (referral_id, site, source, reason, urgency, person_id,
                                  received_on, received_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        referral_id,
        uow.site,
        cmd.source,
        cmd.reason,
        cmd.urgency,
        cmd.person_id,
        received_on,
        cmd.actor,
    )
    uow.record(
        ReferralReceived(
            referral_id=referral_id,
            source=cmd.source,
            urgency=cmd.urgency,
            person_id=cmd.person_id,
            received_on=received_on,
        ),
        subject=referral_id,
    )
    return {"referral_id": str(referral_id)}


async def decide_referral(cmd: DecideReferral, uow: UnitOfWork) -> dict[str, Any]:
    decided_on = uow.business_date(cmd.on)
    referral = await store.load_referral(uow.conn, cmd.referral_id)
    if referral is None:
        raise CommandError.not_found("referral", "referral_id")
    referral.decide(cmd.decision, decided_on)
    await uow.conn.execute(
        """UPDATE referrals SET status = $2, decision_reason = $3, decided_on = $4,
                                decided_by = $5
           WHERE referral_id = $1""",
        cmd.referral_id,
        referral.status,
        cmd.reason,
        decided_on,
        cmd.actor,
    )
    uow.record(
        ReferralDecided(
            referral_id=cmd.referral_id,
            decision=cmd.decision,
            person_id=await store.referral_person(uow.conn, cmd.referral_id),
            decided_on=decided_on,
        ),
        subject=cmd.referral_id,
    )
    return {"referral_id": str(cmd.referral_id), "status": referral.status}


async def record_consent(cmd: RecordConsent, uow: UnitOfWork) -> dict[str, Any]:
    recorded_on = uow.business_date(cmd.on)
    await _person_must_exist(uow, cmd.person_id, "person_id")
    consent_id = uuid4()
    await uow.conn.execute(
        """INSERT INTO consents (consent_id, person_id, purpose, given, recorded_on,
                                 recorded_by, site)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        consent_id,
        cmd.person_id,
        cmd.purpose,
        cmd.given,
        recorded_on,
        cmd.actor,
        uow.site,
    )
    uow.record(
        ConsentRecorded(
            person_id=cmd.person_id,
            purpose=cmd.purpose,
            given=cmd.given,
            recorded_on=recorded_on,
        ),
        subject=cmd.person_id,
    )
    return {"consent_id": str(consent_id), "purpose": cmd.purpose, "given": cmd.given}


async def open_case(cmd: OpenCase, uow: UnitOfWork) -> dict[str, Any]:
    opened_on = uow.business_date(cmd.on)
    # Locks the person, so two workers opening a case for the same person queue up here.
    roles = await uow.conn.fetchval(
        "SELECT roles FROM people WHERE person_id = $1 FOR UPDATE", cmd.person_id
    )
    if roles is None:
        raise CommandError.not_found("person", "person_id")
    if cmd.referral_id is not None:
        referral = await store.load_referral(uow.conn, cmd.referral_id)
        if referral is None:
            raise CommandError.not_found("referral", "referral_id")
    require_service_consent(await store.consent_state(uow.conn, cmd.person_id))
    had_case = await store.has_had_case_at(uow.conn, cmd.person_id, uow.site)
    kind: CaseKind = "reactivated" if had_case else "new"
    case_id = uuid4()
    if not await store.insert_case(
        uow.conn,
        case_id=case_id,
        person_id=cmd.person_id,
        site=uow.site,
        worker_id=cmd.worker_id,
        referral_id=cmd.referral_id,
        kind=kind,
        opened_on=opened_on,
    ):
        existing = await store.open_case_at(uow.conn, cmd.person_id, uow.site)
        raise CommandError(
            "conflict",
            "the person already has an open case at this site",
            person_id=f"open case {existing}",
        )
    uow.record(
        CaseOpened(
            case_id=case_id,
            person_id=cmd.person_id,
            worker_id=cmd.worker_id,
            roles=list(roles),
            kind=kind,
            opened_on=opened_on,
            referral_id=cmd.referral_id,
        ),
        subject=case_id,
    )
    return {"case_id": str(case_id), "kind": kind}


async def transfer_case(
    cmd: TransferCase, uow: UnitOfWork, *, organisation: Organisation
) -> dict[str, Any]:
    transferred_on = uow.business_date(cmd.on)
    if cmd.to_site not in organisation.codes():
        raise CommandError("not_found", "no such site", to_site="unknown site")
    case = await store.load_case(uow.conn, cmd.case_id)
    if case is None or case.site != uow.site:
        raise CommandError.not_found("case", "case_id")
    worker_id = cmd.worker_id or await uow.conn.fetchval(
        "SELECT worker_id FROM cases WHERE case_id = $1", cmd.case_id
    )
    case.transfer(cmd.to_site, transferred_on)
    new_case_id = uuid4()
    await store.save_case_end(uow.conn, case, closed_on=transferred_on, reason="transferred")
    if not await store.insert_case(
        uow.conn,
        case_id=new_case_id,
        person_id=case.person_id,
        site=cmd.to_site,
        worker_id=worker_id,
        referral_id=None,
        kind="transferred_in",
        opened_on=transferred_on,
        transferred_from=case.case_id,
    ):
        raise CommandError(
            "conflict",
            "the person already has an open case at the receiving site",
            to_site="already has an open case there",
        )
    await uow.conn.execute(
        "UPDATE cases SET transferred_to_case_id = $2 WHERE case_id = $1",
        case.case_id,
        new_case_id,
    )
    roles = await store.person_roles(uow.conn, case.person_id) or []
    uow.record(
        CaseTransferred(
            case_id=case.case_id,
            person_id=case.person_id,
            to_site=cmd.to_site,
            new_case_id=new_case_id,
            transferred_on=transferred_on,
        ),
        subject=case.case_id,
    )
    uow.record(
        CaseOpened(
            case_id=new_case_id,
            person_id=case.person_id,
            worker_id=worker_id,
            roles=roles,  # type: ignore[arg-type]
            kind="transferred_in",
            opened_on=transferred_on,
            transferred_from_case_id=case.case_id,
        ),
        subject=new_case_id,
        site=cmd.to_site,
    )
    return {"case_id": str(case.case_id), "new_case_id": str(new_case_id), "to_site": cmd.to_site}


async def close_case(cmd: CloseCase, uow: UnitOfWork) -> dict[str, Any]:
    closed_on = uow.business_date(cmd.on)
    case = await store.load_case(uow.conn, cmd.case_id)
    if case is None or case.site != uow.site:
        raise CommandError.not_found("case", "case_id")
    case.close(cmd.reason, closed_on)
    await store.save_case_end(uow.conn, case, closed_on=closed_on, reason=cmd.reason)
    uow.record(
        CaseClosed(
            case_id=case.case_id, person_id=case.person_id, reason=cmd.reason, closed_on=closed_on
        ),
        subject=case.case_id,
    )
    return {"case_id": str(case.case_id), "status": case.status}


async def log_contact(cmd: LogContact, uow: UnitOfWork) -> dict[str, Any]:
    contact_on = uow.business_date(cmd.on)
    case = await store.load_case(uow.conn, cmd.case_id)
    if case is None or case.site != uow.site:
        raise CommandError.not_found("case", "case_id")
    case.log_contact(contact_on)
    contact_id = uuid4()
    await uow.conn.execute(
        """INSERT INTO case_contacts (contact_id, case_id, mode, minutes, contact_on, logged_by)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        contact_id,
        cmd.case_id,
        cmd.mode,
        cmd.minutes,
        contact_on,
        cmd.actor,
    )
    uow.record(
        CaseContactLogged(
            contact_id=contact_id,
            case_id=cmd.case_id,
            person_id=case.person_id,
            mode=cmd.mode,
            minutes=cmd.minutes,
            contact_on=contact_on,
        ),
        subject=cmd.case_id,
    )
    return {"contact_id": str(contact_id)}


async def record_assessment(
    cmd: RecordAssessment, uow: UnitOfWork, *, instruments: dict[str, Instrument]
) -> dict[str, Any]:
    assessed_on = uow.business_date(cmd.on)
    instrument = instruments.get(cmd.instrument)
    if instrument is None:
        raise CommandError(
            "validation_error",
            f"unknown instrument {cmd.instrument!r}",
            instrument=f"one of {', '.join(sorted(instruments))}",
        )
    try:
        scored = instrument.score(cmd.answers)
    except AnswersInvalid as exc:
        raise CommandError(
            "validation_error",
            f"the answers do not fit {cmd.instrument}",
            [ErrorDetail(field=f, message=m) for f, m in exc.details],
        ) from exc
    await _person_must_exist(uow, cmd.person_id, "person_id")
    assessment_id = uuid4()
    await uow.conn.execute(
        """INSERT INTO assessments (assessment_id, person_id, site, instrument, timepoint,
                                    answers, score, band, safety_followup, assessed_on,
                                    recorded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        assessment_id,
        cmd.person_id,
        uow.site,
        cmd.instrument,
        cmd.timepoint,
        list(cmd.answers),
        scored.score,
        scored.band,
        scored.safety_followup,
        assessed_on,
        cmd.actor,
    )
    uow.record(
        AssessmentRecorded(
            assessment_id=assessment_id,
            person_id=cmd.person_id,
            instrument=cmd.instrument,
            timepoint=cmd.timepoint,
            score=float(scored.score),
            band=scored.band,
            safety_followup=scored.safety_followup,
            assessed_on=assessed_on,
        ),
        subject=assessment_id,
    )
    return {
        "assessment_id": str(assessment_id),
        "score": float(scored.score),
        "band": scored.band,
        "safety_followup": scored.safety_followup,
    }


async def acknowledge_safety_followup(
    cmd: AcknowledgeSafetyFollowup, uow: UnitOfWork
) -> dict[str, Any]:
    row = await uow.conn.fetchrow(
        """SELECT person_id, safety_followup, acknowledged_at FROM assessments
           WHERE assessment_id = $1 FOR UPDATE""",
        cmd.assessment_id,
    )
    if row is None:
        raise CommandError.not_found("assessment", "assessment_id")
    if not row["safety_followup"]:
        raise CommandError(
            "not_allowed",
            "this assessment raised no safety follow-up",
            assessment_id="no follow-up",
        )
    if row["acknowledged_at"] is not None:
        raise CommandError("conflict", "already acknowledged", assessment_id="already acknowledged")
    acknowledged_at = await uow.conn.fetchval(
        """UPDATE assessments SET acknowledged_by = $2, acknowledged_at = now(),
                                  acknowledge_note = $3
           WHERE assessment_id = $1 RETURNING acknowledged_at""",
        cmd.assessment_id,
        cmd.actor,
        cmd.note,
    )
    uow.record(
        SafetyFollowupAcknowledged(
            assessment_id=cmd.assessment_id,
            person_id=row["person_id"],
            acknowledged_by=cmd.actor,
            acknowledged_at=acknowledged_at,
        ),
        subject=cmd.assessment_id,
    )
    return {"assessment_id": str(cmd.assessment_id), "acknowledged_at": acknowledged_at.isoformat()}
