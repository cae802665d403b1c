"""Reporting's writes: how each event becomes a read-model row, the rebuild lock, and the
record of the summaries published. (The reads are in ``views.py``.)

Every ``APPLY`` function gives an idempotent upsert keyed by the id of the fact the event
announces, so the same event applied twice, or replayed by a rebuild while the live consumer
also applies it, leaves the same rows. The live consumers and ``carenet reporting rebuild``
both use ``APPLY``, so a rebuild gives exactly the figures the live service had.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import (
    AttendanceRecorded,
    EnrollmentCreated,
    SessionCancelled,
    SessionHeld,
    SessionScheduled,
)
from shared.kit.contracts.intake import (
    AssessmentRecorded,
    AssessmentVoided,
    CarerLinked,
    CaseClosed,
    CaseContactLogged,
    CaseContactVoided,
    CaseOpened,
    CaseTransferred,
    ConsentRecorded,
    GoalMet,
    OutreachLogged,
    PersonMerged,
    PersonRegistered,
    PersonUpdated,
    ReferralDecided,
    ReferralReceived,
)
from shared.kit.contracts.volunteers import (
    AssignmentMade,
    HoursLogged,
    HoursVoided,
    PeerContactLogged,
    PeerContactVoided,
    PeerMatchEnded,
    PeerMatchStarted,
    VolunteerRegistered,
)

Row = tuple[str, tuple[Any, ...]]
"""One upsert: its SQL and its arguments."""
Apply = Callable[[EventEnvelope, Any], Row]


def _row(sql: str, *args: Any) -> Row:
    return sql, args


class Rows:
    """Upserts gathered over a batch and written with one ``executemany`` per statement.

    Grouping by statement reorders writes across statements; that is safe because the
    statements touching one row set disjoint columns (a case's opening, transfer, closing) or
    guard themselves (a session's date once held, the highest attendance revision). Within a
    statement the order of events is kept.
    """

    def __init__(self) -> None:
        self.by_sql: dict[str, list[tuple[Any, ...]]] = {}
        self.count = 0

    def add(self, row: Row) -> None:
        sql, args = row
        self.by_sql.setdefault(sql, []).append(args)
        self.count += 1

    async def flush(self, conn: asyncpg.Connection) -> None:
        for sql, rows in self.by_sql.items():
            await conn.executemany(sql, rows)
        self.by_sql.clear()
        self.count = 0


# The tables a rebuild empties and fills again (published_summaries records what left the
# service and must survive a rebuild).
READ_MODELS = (
    "people",
    "carer_links",
    "referrals",
    "consents",
    "cases",
    "case_contacts",
    "goals_met",
    "assessments",
    "sessions",
    "enrolments",
    "volunteers",
    "volunteer_hours",
    "assignments",
    "peer_matches",
    "peer_contacts",
    "outreach_contacts",
    "voids",
    "person_aliases",
)


# The advisory lock a rebuild holds exclusively and every consumer transaction shares.
REBUILD_LOCK = zlib.crc32(b"carenet.reporting.rebuild")


async def try_share_rebuild_lock(conn: asyncpg.Connection) -> bool:
    """Take the rebuild lock in shared mode for this transaction, unless a rebuild holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock_shared($1)", REBUILD_LOCK))


async def hold_rebuild_lock(conn: asyncpg.Connection) -> None:
    """Take the rebuild lock exclusively for this transaction, once the consumers' are done."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", REBUILD_LOCK)


async def empty_read_models(conn: asyncpg.Connection) -> None:
    for table in READ_MODELS:
        await conn.execute(f"DELETE FROM {table}")


async def published_summary(conn: asyncpg.Connection, site: str, month: date) -> UUID | None:
    """The event id of the summary published for a site's month, if it was."""
    event_id: UUID | None = await conn.fetchval(
        "SELECT event_id FROM published_summaries WHERE site = $1 AND month = $2", site, month
    )
    return event_id


async def record_published(
    conn: asyncpg.Connection, site: str, month: date, event_id: UUID
) -> bool:
    """Record the summary published for a site's month; False if another was recorded first."""
    first = await conn.fetchval(
        """INSERT INTO published_summaries (site, month, event_id) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        site,
        month,
        event_id,
    )
    return bool(first)


# --- intake ---------------------------------------------------------------------------------


def person_registered(event: EventEnvelope, data: PersonRegistered) -> Row:
    # Roles corrected since (roles_revision > 0) stay as corrected.
    return _row(
        """INSERT INTO people (person_id, site, roles, registered_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT (person_id) DO UPDATE
           SET site = EXCLUDED.site, registered_on = EXCLUDED.registered_on,
               roles = CASE WHEN people.roles_revision > 0 THEN people.roles
                            ELSE EXCLUDED.roles END""",
        data.person_id,
        event.site,
        list(data.roles),
        data.registered_on,
    )


def person_updated(event: EventEnvelope, data: PersonUpdated) -> Row:
    # Only a correction of roles changes anything here, and only the highest revision holds.
    return _row(
        """INSERT INTO people (person_id, roles, roles_revision)
           VALUES ($1, coalesce($2::text[], '{}'), CASE WHEN $2::text[] IS NULL THEN 0 ELSE $3 END)
           ON CONFLICT (person_id) DO UPDATE
           SET roles = EXCLUDED.roles, roles_revision = EXCLUDED.roles_revision
           WHERE people.roles_revision < EXCLUDED.roles_revision""",
        data.person_id,
        None if data.roles is None else list(data.roles),
        data.revision,
    )


def person_merged(event: EventEnvelope, data: PersonMerged) -> Row:
    # One hop always, whichever of two chained merges comes first: an earlier duplicate of the
    # duplicate now points at the kept person, and a duplicate of someone merged before points
    # where that person went.
    return _row(
        """WITH kept AS (SELECT person_of($2) AS id),
                moved AS (UPDATE person_aliases SET into_id = (SELECT id FROM kept)
                          WHERE into_id = $1)
           INSERT INTO person_aliases (duplicate_id, into_id) SELECT $1, id FROM kept
           ON CONFLICT (duplicate_id) DO NOTHING""",
        data.duplicate_id,
        data.into_id,
    )


def carer_linked(event: EventEnvelope, data: CarerLinked) -> Row:
    return _row(
        """INSERT INTO carer_links (link_id, site, relationship, linked_on)
           VALUES ($1, $2, $3, $4) ON CONFLICT (link_id) DO NOTHING""",
        data.link_id,
        event.site,
        data.relationship,
        data.linked_on,
    )


def referral_received(event: EventEnvelope, data: ReferralReceived) -> Row:
    return _row(
        """INSERT INTO referrals (referral_id, site, source, received_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT (referral_id) DO UPDATE
           SET site = EXCLUDED.site, source = EXCLUDED.source,
               received_on = EXCLUDED.received_on""",
        data.referral_id,
        event.site,
        data.source,
        data.received_on,
    )


def referral_decided(event: EventEnvelope, data: ReferralDecided) -> Row:
    # Only a waitlisting is ever decided again, so a final decision (accepted, declined) is
    # never replaced, whatever order a replay brings the two in.
    return _row(
        """INSERT INTO referrals (referral_id, decision, decision_site, decided_on)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (referral_id) DO UPDATE SET decision = EXCLUDED.decision,
               decision_site = EXCLUDED.decision_site, decided_on = EXCLUDED.decided_on
           WHERE referrals.decision IS NULL OR referrals.decision = 'waitlisted'""",
        data.referral_id,
        data.decision,
        event.site,
        data.decided_on,
    )


def consent_recorded(event: EventEnvelope, data: ConsentRecorded) -> Row:
    return _row(
        """INSERT INTO consents (event_id, person_id, purpose, given, recorded_on, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING""",
        event.id,
        data.person_id,
        data.purpose,
        data.given,
        data.recorded_on,
        event.time,
    )


def case_opened(event: EventEnvelope, data: CaseOpened) -> Row:
    return _row(
        """INSERT INTO cases (case_id, person_id, site, roles, kind, opened_on)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (case_id) DO UPDATE SET site = EXCLUDED.site, roles = EXCLUDED.roles,
               kind = EXCLUDED.kind, opened_on = EXCLUDED.opened_on""",
        data.case_id,
        data.person_id,
        event.site,
        list(data.roles),
        data.kind,
        data.opened_on,
    )


def case_transferred(event: EventEnvelope, data: CaseTransferred) -> Row:
    # The case ends here; the receiving site's case.opened (kind transferred_in) carries it on.
    return _row(
        """INSERT INTO cases (case_id, person_id, site, transferred_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT (case_id) DO UPDATE SET transferred_on = EXCLUDED.transferred_on""",
        data.case_id,
        data.person_id,
        event.site,
        data.transferred_on,
    )


def case_closed(event: EventEnvelope, data: CaseClosed) -> Row:
    return _row(
        """INSERT INTO cases (case_id, person_id, site, closed_on, close_reason)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (case_id) DO UPDATE
           SET closed_on = EXCLUDED.closed_on, close_reason = EXCLUDED.close_reason""",
        data.case_id,
        data.person_id,
        event.site,
        data.closed_on,
        data.reason,
    )


def contact_logged(event: EventEnvelope, data: CaseContactLogged) -> Row:
    return _row(
        """INSERT INTO case_contacts (contact_id, site, mode, minutes, contact_on, person_id)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (contact_id) DO NOTHING""",
        data.contact_id,
        event.site,
        data.mode,
        data.minutes,
        data.contact_on,
        data.person_id,
    )


def outreach_logged(event: EventEnvelope, data: OutreachLogged) -> Row:
    return _row(
        """INSERT INTO outreach_contacts (outreach_id, site, contacts, mode, minutes, outreach_on)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (outreach_id) DO NOTHING""",
        data.outreach_id,
        event.site,
        data.count,
        data.mode,
        data.minutes or 0,
        data.outreach_on,
    )


def goal_met(event: EventEnvelope, data: GoalMet) -> Row:
    return _row(
        """INSERT INTO goals_met (goal_id, site, met_on) VALUES ($1, $2, $3)
           ON CONFLICT (goal_id) DO NOTHING""",
        data.goal_id,
        event.site,
        data.met_on,
    )


def contact_voided(event: EventEnvelope, data: CaseContactVoided) -> Row:
    return _void(data.contact_id, "case_contact", data.voided_on)


def assessment_voided(event: EventEnvelope, data: AssessmentVoided) -> Row:
    return _void(data.assessment_id, "assessment", data.voided_on)


def _void(fact_id: UUID, kind: str, voided_on: date) -> Row:
    return _row(
        """INSERT INTO voids (fact_id, kind, voided_on) VALUES ($1, $2, $3)
           ON CONFLICT (fact_id) DO NOTHING""",
        fact_id,
        kind,
        voided_on,
    )


def assessment_recorded(event: EventEnvelope, data: AssessmentRecorded) -> Row:
    return _row(
        """INSERT INTO assessments (assessment_id, person_id, site, instrument, timepoint, score,
                                    assessed_on, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (assessment_id) DO NOTHING""",
        data.assessment_id,
        data.person_id,
        event.site,
        data.instrument,
        data.timepoint,
        data.score,
        data.assessed_on,
        event.time,
    )


# --- groups ---------------------------------------------------------------------------------


def session_scheduled(event: EventEnvelope, data: SessionScheduled) -> Row:
    return _row(
        """INSERT INTO sessions (session_id, site, programme_id, programme_type, tags, session_on)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (session_id) DO UPDATE
           SET session_on = CASE WHEN sessions.held THEN sessions.session_on
                                 ELSE EXCLUDED.session_on END,
               tags = EXCLUDED.tags""",
        data.session_id,
        event.site,
        data.programme_id,
        data.programme_type,
        list(data.tags),
        data.date,
    )


def session_cancelled(event: EventEnvelope, data: SessionCancelled) -> Row:
    return _row(
        """INSERT INTO sessions (session_id, site, programme_id, programme_type, session_on,
                                 cancelled)
           VALUES ($1, $2, $3, $4, $5, true)
           ON CONFLICT (session_id) DO UPDATE SET cancelled = true""",
        data.session_id,
        event.site,
        data.programme_id,
        data.programme_type,
        data.date,
    )


def session_held(event: EventEnvelope, data: SessionHeld) -> Row:
    return _row(
        """INSERT INTO sessions (session_id, site, programme_id, programme_type, session_on, held)
           VALUES ($1, $2, $3, $4, $5, true)
           ON CONFLICT (session_id) DO UPDATE SET held = true, session_on = EXCLUDED.session_on""",
        data.session_id,
        event.site,
        data.programme_id,
        data.programme_type,
        data.date,
    )


def attendance_recorded(event: EventEnvelope, data: AttendanceRecorded) -> Row:
    # Only a higher revision replaces what is there: a replayed older record changes nothing.
    return _row(
        """INSERT INTO sessions (session_id, site, programme_id, programme_type, tags, session_on,
                                 held, revision, present, walk_ins)
           VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9)
           ON CONFLICT (session_id) DO UPDATE
           SET held = true, revision = EXCLUDED.revision, present = EXCLUDED.present,
               walk_ins = EXCLUDED.walk_ins, session_on = EXCLUDED.session_on,
               tags = EXCLUDED.tags
           WHERE sessions.revision < EXCLUDED.revision""",
        data.session_id,
        event.site,
        data.programme_id,
        data.programme_type,
        list(data.tags),
        data.date,
        data.revision,
        list(dict.fromkeys(data.present)),
        data.walk_ins,
    )


def enrolment_created(event: EventEnvelope, data: EnrollmentCreated) -> Row:
    return _row(
        """INSERT INTO enrolments (enrollment_id, site, programme_type, status, enrolled_on)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (enrollment_id) DO NOTHING""",
        data.enrollment_id,
        event.site,
        data.programme_type,
        data.status,
        data.enrolled_on,
    )


# --- volunteers -----------------------------------------------------------------------------


def volunteer_registered(event: EventEnvelope, data: VolunteerRegistered) -> Row:
    return _row(
        """INSERT INTO volunteers (volunteer_id, person_id, site, teams, service_user,
                                   registered_on)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (volunteer_id) DO NOTHING""",
        data.volunteer_id,
        data.person_id,
        event.site,
        list(data.teams),
        data.service_user,
        data.registered_on,
    )


def hours_logged(event: EventEnvelope, data: HoursLogged) -> Row:
    return _row(
        """INSERT INTO volunteer_hours (hours_id, site, volunteer_id, team, minutes, worked_on)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hours_id) DO NOTHING""",
        data.hours_id,
        event.site,
        data.volunteer_id,
        data.team,
        data.minutes,
        data.date,
    )


def hours_voided(event: EventEnvelope, data: HoursVoided) -> Row:
    return _void(data.hours_id, "volunteer_hours", event.time.date())


def assignment_made(event: EventEnvelope, data: AssignmentMade) -> Row:
    return _row(
        """INSERT INTO assignments (assignment_id, site, volunteer_id, role, session_on)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (assignment_id) DO NOTHING""",
        data.assignment_id,
        event.site,
        data.volunteer_id,
        data.role,
        data.date,
    )


def peer_match_started(event: EventEnvelope, data: PeerMatchStarted) -> Row:
    return _row(
        """INSERT INTO peer_matches (match_id, site, started_on) VALUES ($1, $2, $3)
           ON CONFLICT (match_id) DO UPDATE SET started_on = EXCLUDED.started_on""",
        data.match_id,
        event.site,
        data.started_on,
    )


def peer_match_ended(event: EventEnvelope, data: PeerMatchEnded) -> Row:
    return _row(
        """INSERT INTO peer_matches (match_id, site, ended_on) VALUES ($1, $2, $3)
           ON CONFLICT (match_id) DO UPDATE SET ended_on = EXCLUDED.ended_on""",
        data.match_id,
        event.site,
        data.ended_on,
    )


def peer_contact_logged(event: EventEnvelope, data: PeerContactLogged) -> Row:
    return _row(
        """INSERT INTO peer_contacts (contact_id, site, match_id, mode, minutes, contact_on)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (contact_id) DO NOTHING""",
        data.contact_id,
        event.site,
        data.match_id,
        data.mode,
        data.minutes,
        data.date,
    )


def peer_contact_voided(event: EventEnvelope, data: PeerContactVoided) -> Row:
    return _void(data.contact_id, "peer_contact", event.time.date())


# Per source service: the event types reporting reads and how each is applied.
APPLY: dict[str, dict[str, Apply]] = {
    "intake": {
        "intake.person.registered": person_registered,
        "intake.person.updated": person_updated,
        "intake.person.merged": person_merged,
        "intake.carer.linked": carer_linked,
        "intake.referral.received": referral_received,
        "intake.referral.decided": referral_decided,
        "intake.consent.recorded": consent_recorded,
        "intake.case.opened": case_opened,
        "intake.case.transferred": case_transferred,
        "intake.case.closed": case_closed,
        "intake.case.contact_logged": contact_logged,
        "intake.case.goal_met": goal_met,
        "intake.assessment.recorded": assessment_recorded,
        "intake.outreach.logged": outreach_logged,
        "intake.case.contact_voided": contact_voided,
        "intake.assessment.voided": assessment_voided,
    },
    "groups": {
        "groups.session.scheduled": session_scheduled,
        "groups.session.cancelled": session_cancelled,
        "groups.session.held": session_held,
        "groups.attendance.recorded": attendance_recorded,
        "groups.enrollment.created": enrolment_created,
    },
    "volunteers": {
        "volunteers.volunteer.registered": volunteer_registered,
        "volunteers.hours.logged": hours_logged,
        "volunteers.hours.voided": hours_voided,
        "volunteers.assignment.made": assignment_made,
        "volunteers.peer_match.started": peer_match_started,
        "volunteers.peer_match.ended": peer_match_ended,
        "volunteers.peer_contact.logged": peer_contact_logged,
        "volunteers.peer_contact.voided": peer_contact_voided,
    },
}
