"""Intake's public API: people, carers, referrals, consent, cases, contacts and assessments.

Events carry opaque ids, roles, an age band, sex and codes only: names, phone numbers,
addresses, exact dates of birth and free-text reasons stay in intake's tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator

from shared.kit.contracts.catalogue import command, event, query
from shared.kit.contracts.envelope import SITE_CODE
from shared.kit.contracts.messages import BusinessCommand, Command, EventData, Message, Query
from shared.kit.identity.access import CASEWORK, HANDOFFS, MANAGERS, TRANSFER_STATUS

Role = Literal[
    "person_in_recovery",
    "family_carer",
    "rehabilitee",
    "si_affected",
    "community_member",
    "volunteer",
]
SERVICE_USER_ROLES: frozenset[str] = frozenset(
    {"person_in_recovery", "family_carer", "rehabilitee", "si_affected"}
)
Sex = Literal["female", "male", "other", "undisclosed"]
AgeBand = Literal["under_18", "18_24", "25_34", "35_44", "45_54", "55_64", "65_plus", "unknown"]
ReferralSource = Literal[
    "hospital",
    "street_office",
    "residents_committee",
    "ngo",
    "probation",
    "school",
    "family",
    "self",
    "other",
]
Urgency = Literal["routine", "urgent"]
Decision = Literal["accepted", "declined", "waitlisted"]
ConsentPurpose = Literal["service", "outcome_data", "data_sharing"]
Relationship = Literal["parent", "spouse", "sibling", "child", "other"]
CloseReason = Literal[
    "goals_achieved",
    "moved_away",
    "declined_service",
    "no_contact",
    "deceased",
    "other",
    "consent_withdrawn",
]
"""``consent_withdrawn``: closed by intake when the person withdrew their ``service``
consent (not a reason staff give)."""
ContactMode = Literal["outreach_visit", "office_interview", "home_visit", "phone", "online"]
OutreachMode = Literal[
    "street", "estate", "community_event", "school", "home_visit", "phone", "online", "other"
]
Timepoint = Literal["baseline", "mid", "post", "follow_up"]
CaseKind = Literal["new", "reactivated", "transferred_in"]
HandoffStatus = Literal["pending", "completed", "refused", "cancelled"]
"""``cancelled``: the person withdrew their ``data_sharing`` (or ``service``) consent before
the receiving site accepted; the case is open again at the sending site."""
GoalProgress = Literal["not_started", "some_progress", "on_track", "setback"]
GoalOutcome = Literal["met", "dropped"]

Text = Field(min_length=1, max_length=2000)
Name = Field(min_length=1, max_length=120)


# --- commands -------------------------------------------------------------------------------


@command("intake", "register_person", access=CASEWORK)
class RegisterPerson(BusinessCommand):
    """Register a person at the site; personal data stays in intake."""

    preferred_name: str = Name
    roles: list[Role] = Field(min_length=1, max_length=10)
    legal_name: str | None = Field(default=None, min_length=1, max_length=120)
    sex: Sex | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 \-]{5,24}$")
    language: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    register_anyway: bool = Field(
        default=False,
        description="Register even though possible duplicates were found (after checking them).",
    )

    @field_validator("roles")
    @classmethod
    def _distinct_roles(cls, roles: list[Role]) -> list[Role]:
        return list(dict.fromkeys(roles))


@command("intake", "merge_people", access=CASEWORK)
class MergePeople(BusinessCommand):
    """Merge a person registered twice into the record that is kept: the duplicate's cases,
    consents, referrals, assessments and carer links become the kept person's, the duplicate
    keeps only a pointer, and every service then counts one person. The reason stays in
    intake."""

    duplicate_id: UUID
    into_id: UUID
    reason: str = Text


@command("intake", "link_carer", access=CASEWORK)
class LinkCarer(BusinessCommand):
    carer_id: UUID
    cared_for_id: UUID
    relationship: Relationship


@command("intake", "receive_referral", access=CASEWORK)
class ReceiveReferral(BusinessCommand):
    source: ReferralSource
    reason: str = Text
    urgency: Urgency = "routine"
    person_id: UUID | None = None


@command("intake", "decide_referral", access=CASEWORK)
class DecideReferral(BusinessCommand):
    """Decide a referral once; a waitlisted one may be decided again, accepted or declined."""

    referral_id: UUID
    decision: Decision
    reason: str = Text


@command("intake", "record_consent", access=CASEWORK)
class RecordConsent(BusinessCommand):
    """Record a consent given or withdrawn. Withdrawing ``service`` closes the person's open
    cases (reason ``consent_withdrawn``) and, through ``consent.recorded``, their enrolments,
    waitlist places, peer matches and future duties; withdrawing ``data_sharing`` or
    ``service`` cancels their transfers not yet accepted. Giving consent again reopens
    nothing."""

    person_id: UUID
    purpose: ConsentPurpose
    given: bool


@command("intake", "open_case", access=CASEWORK)
class OpenCase(BusinessCommand):
    person_id: UUID
    worker_id: str = Field(min_length=1, max_length=64)
    referral_id: UUID | None = None


@command("intake", "transfer_case", access=CASEWORK)
class TransferCase(BusinessCommand):
    """Hand the case over to another site's intake (which may keep its own database): the case
    is ``transferring`` until the receiving site has opened its case, then ``transferred``."""

    case_id: UUID
    to_site: str = Field(pattern=SITE_CODE.pattern)
    worker_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Worker at the new site."
    )


class TransferredPerson(Message):
    """A person's record as the sending site keeps it, for the receiving site's intake."""

    site: str = Field(pattern=SITE_CODE.pattern, description="Where they were registered.")
    preferred_name: str = Name
    legal_name: str | None = Field(default=None, min_length=1, max_length=120)
    sex: Sex | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    roles: list[Role] = Field(min_length=1, max_length=10)
    registered_on: date


class TransferredConsent(Message):
    consent_id: UUID
    purpose: ConsentPurpose
    given: bool
    recorded_on: date
    recorded_by: str = Field(min_length=1, max_length=64)
    recorded_at: datetime
    site: str = Field(pattern=SITE_CODE.pattern)


@command("intake", "receive_transfer", access=HANDOFFS)
class ReceiveTransfer(Command):
    """Sent by the sending site's intake (``command_id`` = the handoff's id, so a resend gets
    the first reply): open the transferred case here, registering the person if unknown."""

    person_id: UUID
    person: TransferredPerson
    consents: list[TransferredConsent] = Field(default_factory=list, max_length=1000)
    from_site: str = Field(pattern=SITE_CODE.pattern)
    from_case_id: UUID
    worker_id: str = Field(min_length=1, max_length=64)
    transferred_on: date


@command("intake", "close_case", access=CASEWORK)
class CloseCase(BusinessCommand):
    case_id: UUID
    reason: CloseReason = Field(description="Not ``consent_withdrawn``: record the withdrawal.")

    @field_validator("reason")
    @classmethod
    def _staff_reason(cls, reason: CloseReason) -> CloseReason:
        if reason == "consent_withdrawn":
            raise ValueError(
                "consent_withdrawn is set by recording the withdrawal of service consent"
            )
        return reason


@command("intake", "log_contact", access=CASEWORK)
class LogContact(BusinessCommand):
    case_id: UUID
    mode: ContactMode
    minutes: int = Field(ge=1, le=24 * 60)


@command("intake", "log_outreach", access=CASEWORK)
class LogOutreach(BusinessCommand):
    """Outreach contacts with people who are not registered, as a count: where or how they
    were met, and the time it took. No names, no personal data."""

    count: int = Field(ge=1, le=1000, description="People contacted.")
    mode: OutreachMode
    minutes: int | None = Field(default=None, ge=1, le=24 * 60)


@command("intake", "record_assessment", access=CASEWORK)
class RecordAssessment(BusinessCommand):
    person_id: UUID
    instrument: str = Field(min_length=1, max_length=32)
    timepoint: Timepoint
    answers: list[int] = Field(min_length=1, max_length=200)


@command("intake", "update_person", access=CASEWORK)
class UpdatePerson(Command):
    """Correct a person's personal data or roles: only the fields sent change (a field sent as
    null is cleared, where it may be). Who changed which fields is kept in intake's change log;
    ``person.updated`` says only what changed of the roles, age band and sex."""

    person_id: UUID
    preferred_name: str | None = Field(default=None, min_length=1, max_length=120)
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=10)
    legal_name: str | None = Field(default=None, min_length=1, max_length=120)
    sex: Sex | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 \-]{5,24}$")
    language: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)

    @field_validator("roles")
    @classmethod
    def _distinct_roles(cls, roles: list[Role] | None) -> list[Role] | None:
        return None if roles is None else list(dict.fromkeys(roles))


@command("intake", "void_contact", access=CASEWORK)
class VoidContact(Command):
    """A contact logged by mistake (wrong case, never happened): it stays in intake, marked
    void with the reason, and stops counting in every figure."""

    contact_id: UUID
    reason: str = Text


@command("intake", "void_assessment", access=CASEWORK)
class VoidAssessment(Command):
    """An assessment recorded by mistake: marked void with the reason; outcomes are paired
    again without it and its safety follow-up leaves the list."""

    assessment_id: UUID
    reason: str = Text


@command("intake", "reassign_case", access=CASEWORK)
class ReassignCase(BusinessCommand):
    """Give an open case to another worker at its site."""

    case_id: UUID
    worker_id: str = Field(min_length=1, max_length=64)


@command("intake", "acknowledge_safety_followup", access=CASEWORK)
class AcknowledgeSafetyFollowup(Command):
    assessment_id: UUID
    note: str | None = Field(default=None, max_length=2000)


@command("intake", "add_case_note", access=CASEWORK)
class AddCaseNote(BusinessCommand):
    """A case note; its text stays in intake (no event says a note was added)."""

    case_id: UUID
    text: str = Field(min_length=1, max_length=10000)


@command("intake", "set_goal", access=CASEWORK)
class SetGoal(BusinessCommand):
    """A goal in the case's care plan; its text stays in intake."""

    case_id: UUID
    text: str = Text


@command("intake", "review_goal", access=CASEWORK)
class ReviewGoal(BusinessCommand):
    """A review of an open goal: how it is going, and a progress note kept in intake."""

    goal_id: UUID
    progress: GoalProgress
    note: str | None = Field(default=None, min_length=1, max_length=2000)


@command("intake", "end_goal", access=CASEWORK)
class EndGoal(BusinessCommand):
    """Mark an open goal ``met`` or ``dropped``, with an optional note kept in intake."""

    goal_id: UUID
    outcome: GoalOutcome
    note: str | None = Field(default=None, min_length=1, max_length=2000)


@command("intake", "screen_referral", access=CASEWORK)
class ScreenReferral(BusinessCommand):
    """Answers to a needs-and-risk screening (``shared/agency/screenings.toml``) for a referral;
    the answers, total, band and flags stay in intake."""

    referral_id: UUID
    screening: str = Field(default="needs_risk", min_length=1, max_length=32)
    answers: list[int] = Field(min_length=1, max_length=100)


# --- queries --------------------------------------------------------------------------------


@query("intake", "person", access=CASEWORK)
class PersonQuery(Query):
    """A person's personal data, for staff; every read is written to the access log."""

    person_id: UUID


@query("intake", "find_people", access=CASEWORK)
class FindPeople(Query):
    """People known at the site or below it, by name or phone; every one found is written to
    the access log."""

    text: str = Field(min_length=1, max_length=120)


@query("intake", "case", access=CASEWORK)
class CaseQuery(Query):
    case_id: UUID


@query("intake", "case_record", access=CASEWORK)
class CaseRecordQuery(Query):
    """A case's record: its notes, its care plan's goals with their reviews, and the screenings
    of its referral; the read is written to the access log."""

    case_id: UUID


@query("intake", "handoffs", access=TRANSFER_STATUS)
class HandoffsQuery(Query):
    """The site's transfers to other sites not completed (or those with ``status``): where
    each stands, how often it was tried, the last error. No personal data. A handoff not yet
    accepted is ``cancelled`` when the person withdraws their ``data_sharing`` or ``service``
    consent (its ``last_error`` says which)."""

    status: HandoffStatus | None = None


@query("intake", "consent", access=CASEWORK)
class ConsentQuery(Query):
    person_id: UUID


@query("intake", "referrals_overdue", access=CASEWORK)
class ReferralsOverdue(Query):
    days: int | None = Field(default=None, ge=0, le=365)


@query("intake", "safety_followups", access=CASEWORK)
class SafetyFollowups(Query):
    worker_id: str | None = Field(default=None, max_length=64)


@query("intake", "referrals_undecided", access=CASEWORK)
class ReferralsUndecided(Query):
    """The worklist of referrals not yet decided (received, or waitlisted): urgent first, then
    the oldest; each with its age in days. Ids and codes only."""

    urgency: Urgency | None = None
    include_waitlisted: bool = True


@query("intake", "caseload", access=CASEWORK)
class CaseloadQuery(Query):
    """A worker's open cases at the site and below it, oldest first, with each person's
    preferred name (written to the access log) and the date of the last contact."""

    worker_id: str = Field(min_length=1, max_length=64)


@query("intake", "assessments", access=CASEWORK)
class AssessmentsQuery(Query):
    """A person's assessments, oldest first (health data: written to the access log); void
    ones are listed as void."""

    person_id: UUID
    instrument: str | None = Field(default=None, min_length=1, max_length=32)


@query("intake", "access_log", access=MANAGERS)
class AccessLogQuery(Query):
    """Who read which person's data at the site and below it (verified sub, its roles, the
    query, when), newest first."""

    person_id: UUID | None = None
    limit: int = Field(default=100, ge=1, le=1000)


# --- events ---------------------------------------------------------------------------------


@event("intake.person.registered")
class PersonRegistered(EventData):
    """A person was registered (no personal data: roles, age band and sex only)."""

    person_id: UUID
    roles: list[Role]
    age_band: AgeBand
    sex: Sex | None = None
    registered_on: date


@event("intake.person.merged")
class PersonMerged(EventData):
    """A duplicate registration was merged into the person it duplicates: from now on
    ``duplicate_id`` means ``into_id`` everywhere, including in events about it that arrive
    later. ``roles`` are the kept person's roles after the merge (theirs and the duplicate's)."""

    duplicate_id: UUID
    into_id: UUID
    roles: list[Role]
    merged_on: date


@event("intake.carer.linked")
class CarerLinked(EventData):
    """A family carer was linked to the person they care for."""

    link_id: UUID
    carer_id: UUID
    cared_for_id: UUID
    relationship: Relationship
    linked_on: date


@event("intake.referral.received")
class ReferralReceived(EventData):
    """A referral came in (the reason text stays in intake)."""

    referral_id: UUID
    source: ReferralSource
    urgency: Urgency
    person_id: UUID | None = None
    received_on: date


@event("intake.referral.decided")
class ReferralDecided(EventData):
    """A referral was accepted, declined or waitlisted. A waitlisted referral is decided again
    later (accepted or declined): that event has ``previous_decision`` ``waitlisted`` and
    replaces the first."""

    referral_id: UUID
    decision: Decision
    person_id: UUID | None = None
    decided_on: date
    previous_decision: Decision | None = None


@event("intake.consent.recorded")
class ConsentRecorded(EventData):
    """Consent for a purpose was given or withdrawn."""

    person_id: UUID
    purpose: ConsentPurpose
    given: bool
    recorded_on: date


@event("intake.case.opened")
class CaseOpened(EventData):
    """A case was opened at the site (``kind`` says whether it came by transfer)."""

    case_id: UUID
    person_id: UUID
    worker_id: str
    roles: list[Role]
    kind: CaseKind
    opened_on: date
    referral_id: UUID | None = None
    transferred_from_case_id: UUID | None = None


@event("intake.case.transferred")
class CaseTransferred(EventData):
    """A case left this site for another; the new case is opened there."""

    case_id: UUID
    person_id: UUID
    to_site: str
    new_case_id: UUID
    transferred_on: date


@event("intake.case.closed")
class CaseClosed(EventData):
    """A case was closed with a reason."""

    case_id: UUID
    person_id: UUID
    reason: CloseReason
    closed_on: date


@event("intake.case.contact_logged")
class CaseContactLogged(EventData):
    """A casework contact was logged (no note text)."""

    contact_id: UUID
    case_id: UUID
    person_id: UUID
    mode: ContactMode
    minutes: int
    contact_on: date


@event("intake.outreach.logged")
class OutreachLogged(EventData):
    """Outreach contacts with unregistered people were counted (a count, no personal data)."""

    outreach_id: UUID
    count: int
    mode: OutreachMode
    minutes: int | None = None
    outreach_on: date


@event("intake.assessment.recorded")
class AssessmentRecorded(EventData):
    """An outcome instrument was scored for a person."""

    assessment_id: UUID
    person_id: UUID
    instrument: str
    timepoint: Timepoint
    score: float
    band: str
    safety_followup: bool = False
    assessed_on: date


@event("intake.safety_followup.acknowledged")
class SafetyFollowupAcknowledged(EventData):
    """A worker acknowledged a safety follow-up raised by an assessment."""

    assessment_id: UUID
    person_id: UUID
    acknowledged_by: str
    acknowledged_at: datetime


@event("intake.case.goal_set")
class GoalSet(EventData):
    """A goal was set in a case's care plan (its text stays in intake)."""

    goal_id: UUID
    case_id: UUID
    person_id: UUID
    set_on: date


@event("intake.case.goal_reviewed")
class GoalReviewed(EventData):
    """A care-plan goal was reviewed (the progress note stays in intake)."""

    review_id: UUID
    goal_id: UUID
    case_id: UUID
    person_id: UUID
    reviewed_on: date


@event("intake.case.goal_met")
class GoalMet(EventData):
    """A care-plan goal was met."""

    goal_id: UUID
    case_id: UUID
    person_id: UUID
    met_on: date


@event("intake.case.goal_dropped")
class GoalDropped(EventData):
    """A care-plan goal was dropped, unmet."""

    goal_id: UUID
    case_id: UUID
    person_id: UUID
    dropped_on: date


@event("intake.person.updated")
class PersonUpdated(EventData):
    """A person's record was corrected. Only what changed of their roles, age band and sex is
    given (absent: unchanged); ``revision`` counts the person's corrections, so a reader keeps
    the highest. No personal data."""

    person_id: UUID
    revision: int = Field(ge=1)
    roles: list[Role] | None = None
    age_band: AgeBand | None = None
    sex: Sex | None = None
    updated_on: date


@event("intake.case.reassigned")
class CaseReassigned(EventData):
    """An open case was given to another worker at its site."""

    case_id: UUID
    person_id: UUID
    worker_id: str
    previous_worker_id: str
    reassigned_on: date


@event("intake.case.contact_voided")
class CaseContactVoided(EventData):
    """A contact logged by mistake was voided: it no longer counts (the reason stays in
    intake)."""

    contact_id: UUID
    case_id: UUID
    person_id: UUID
    voided_on: date


@event("intake.assessment.voided")
class AssessmentVoided(EventData):
    """An assessment recorded by mistake was voided: it no longer counts in outcomes (the
    reason stays in intake)."""

    assessment_id: UUID
    person_id: UUID
    instrument: str
    voided_on: date


# --- access requests (issue 17) -------------------------------------------------------------


@query("intake", "subject_access_export", access=MANAGERS)
class SubjectAccessExport(Query):
    """A data subject's access request: what every service holds about a person, in one document.

    Intake's part is all it holds (personal data with its corrections, roles,
    carer links, referrals and screenings, consents, cases with notes, goals, contacts and
    handoffs, assessments with answers, merges, the activity groups and volunteers reported
    for the retention rule, and who read the person's data); groups',
    volunteers' and reporting's parts are their ``person_data`` at the site and below it,
    asked with the caller's token. A service that does not answer is listed as
    ``unavailable``: the export is then incomplete, and says so. The export is written to the
    access log."""

    person_id: UUID


# --- erasure and retention (issue 17) -------------------------------------------------------


@command("intake", "erase_person", access=MANAGERS)
class ErasePerson(Command):
    """Erase a person's personal data (names, contact details, birth year, the text of their
    case record, referrals, reviews and voids, their answers): the person stays as a tombstone
    under the same id, so figures and other records still count them. Refused while a case of
    theirs is running (close it first). Erasing again answers the same. The reason stays in
    intake; ``person.erased`` tells every service (the id only)."""

    person_id: UUID
    reason: str = Text


@query("intake", "retention_runs", access=MANAGERS)
class RetentionRunsQuery(Query):
    """The retention job's latest runs at the site and below it, newest first: when each ran,
    the cut-off it applied and the people it erased (ids only)."""

    limit: int = Field(default=10, ge=1, le=100)


@event("intake.person.erased")
class PersonErased(EventData):
    """A person's personal data was erased in intake (on request, or by the retention rule):
    every service drops what it holds about them beyond the id. Figures stand. The reason stays
    in intake."""

    person_id: UUID
    erased_on: date
