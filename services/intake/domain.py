"""Intake's rules, in the agency's words. Plain Python: no I/O."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from shared.agency.instruments import AnswersInvalid, Instrument, Score
from shared.agency.screenings import AnswersDoNotFit, Screened, Screening
from shared.kit.contracts.intake import (
    AgeBand,
    CaseKind,
    CloseReason,
    Decision,
    GoalOutcome,
    Role,
    Sex,
)
from shared.kit.contracts.replies import CommandError, ErrorDetail

AGE_BANDS: tuple[tuple[int, AgeBand], ...] = (
    (18, "under_18"),
    (25, "18_24"),
    (35, "25_34"),
    (45, "35_44"),
    (55, "45_54"),
    (65, "55_64"),
)


def age_band(birth_year: int | None, today: date) -> AgeBand:
    """A coarse band: events never carry a date of birth."""
    if birth_year is None:
        return "unknown"
    age = today.year - birth_year
    for upper, band in AGE_BANDS:
        if age < upper:
            return band
    return "65_plus"


def phone_digits(phone: str | None) -> str | None:
    """The digits duplicate checks and searches compare: the last 8, so a country code or
    spacing written differently still matches."""
    if phone is None:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-8:] if len(digits) >= 8 else digits


def refuse_possible_duplicates(possible: list[UUID], register_anyway: bool) -> None:
    """Someone who may already be registered is refused, naming the candidates, unless the
    worker has checked them and registers anyway."""
    if possible and not register_anyway:
        raise CommandError(
            "conflict",
            "this person may already be registered; check the people listed, or send again "
            "with register_anyway",
            [ErrorDetail(field="possible_duplicate", message=str(p)) for p in possible],
        )


@dataclass(frozen=True)
class Person:
    """What intake's rules need to know of a registered person: never their personal data."""

    person_id: UUID
    site: str
    roles: tuple[Role, ...]
    case_sites: frozenset[str] = frozenset()
    """The sites where the person has (or had) a case."""
    merged_into: UUID | None = None
    """Set once this record was merged, as a duplicate, into the person it duplicates."""
    erased_on: date | None = None
    """Set once the person's personal data was erased: the row is a tombstone."""

    def must_not_be_erased(self, field: str) -> None:
        """An erased person takes no new records and no corrections: their row only keeps the
        id valid for what was recorded before."""
        if self.erased_on is not None:
            raise CommandError.conflict(
                "this person's personal data was erased",
                **{field: f"erased on {self.erased_on.isoformat()}"},
            )

    def must_not_be_merged(self, field: str) -> None:
        """A merged duplicate takes no new records: they belong on the person it was merged
        into, whom the refusal names."""
        if self.merged_into is not None:
            raise CommandError.conflict(
                "this person was merged into another record; use that one",
                **{field: f"merged into {self.merged_into}"},
            )

    def known_at(self, sites: Collection[str]) -> bool:
        """Whether staff of ``sites`` know the person: registered there, or with a case there
        (a person transferred in, or served at more than one site)."""
        return self.site in sites or not self.case_sites.isdisjoint(sites)

    def with_roles(self, roles: Collection[Role]) -> tuple[Role, ...]:
        """The person's roles and, after them, those of ``roles`` they did not have."""
        return (*self.roles, *(r for r in dict.fromkeys(roles) if r not in self.roles))

    def must_be_family_carer(self) -> None:
        if "family_carer" not in self.roles:
            raise CommandError.not_allowed(
                "the carer is not registered with the family_carer role",
                carer_id="not a family carer",
            )


@dataclass(frozen=True)
class OpenCaseAt:
    """A case of a person to be merged that is still running (``open`` or ``transferring``)."""

    case_id: UUID
    site: str
    status: str


def merged_roles(
    duplicate: Person,
    into: Person,
    duplicate_cases: Collection[OpenCaseAt],
    into_cases: Collection[OpenCaseAt],
) -> tuple[Role, ...]:
    """The kept person's roles after ``duplicate`` is merged into ``into``; refuses a merge that
    would leave one person with two running cases at a site (close one first: which case goes
    on is the workers' decision), or that races a transfer still under way."""
    if duplicate.person_id == into.person_id:
        raise CommandError(
            "validation_error", "a person cannot be merged into themselves", into_id="same person"
        )
    duplicate.must_not_be_merged("duplicate_id")
    into.must_not_be_merged("into_id")
    transferring = [c for c in (*duplicate_cases, *into_cases) if c.status == "transferring"]
    if transferring:
        raise CommandError(
            "conflict",
            "a transfer of a case of these people is under way; merge once it has been answered",
            [
                ErrorDetail(field="case_id", message=f"{c.case_id} transferring")
                for c in transferring
            ],
        )
    kept_sites = {c.site: c for c in into_cases}
    clashes = [(c, kept_sites[c.site]) for c in duplicate_cases if c.site in kept_sites]
    if clashes:
        raise CommandError(
            "conflict",
            "both records have an open case at the same site; close one of them first",
            [
                ErrorDetail(field="case_id", message=f"{d.case_id} and {k.case_id} at {d.site}")
                for d, k in clashes
            ],
        )
    return into.with_roles(duplicate.roles)


def refuse_own_carer(carer_id: UUID, cared_for_id: UUID) -> None:
    if carer_id == cared_for_id:
        raise CommandError(
            "validation_error", "a person cannot be their own carer", cared_for_id="same person"
        )


@dataclass
class Referral:
    referral_id: UUID
    status: str
    received_on: date
    person_id: UUID | None = None
    site: str | None = None
    decided_on: date | None = None

    def decide(self, decision: Decision, on: date) -> Decision | None:
        """A referral is decided once, and not before the day it was received; a waitlisted one
        is decided again later, accepted or declined, not before it was waitlisted. The
        decision it had before, if any."""
        previous: Decision | None = None
        if self.status == "waitlisted" and decision != "waitlisted":
            previous = "waitlisted"
        elif self.status != "received":
            raise CommandError.conflict(
                f"this referral was already {self.status}", referral_id=f"already {self.status}"
            )
        earliest = self.decided_on or self.received_on
        if on < earliest:
            raise CommandError(
                "validation_error",
                "a referral cannot be decided before it was "
                + ("waitlisted" if previous else "received"),
                on=f"before {earliest.isoformat()}",
            )
        self.status = decision
        self.decided_on = on
        return previous

    def may_screen(self, on: date) -> None:
        """A referral is screened (again, if need be) on or after the day it was received."""
        if on < self.received_on:
            raise CommandError(
                "validation_error",
                "a referral cannot be screened before it was received",
                on=f"before {self.received_on.isoformat()}",
            )


PERSONAL_FIELDS: tuple[str, ...] = (
    "preferred_name",
    "legal_name",
    "sex",
    "birth_year",
    "phone",
    "language",
    "address",
)
REQUIRED_FIELDS: frozenset[str] = frozenset({"preferred_name", "roles"})


@dataclass(frozen=True)
class Correction:
    """What a correction of a person's record changes: every field, and what of it events
    may say (roles, age band, sex: None when unchanged)."""

    values: dict[str, Any]
    roles: tuple[Role, ...] | None = None
    age_band: AgeBand | None = None
    sex: Sex | None = None

    @property
    def fields(self) -> list[str]:
        return sorted(self.values)

    @property
    def announced(self) -> bool:
        """Whether other services must hear of it (roles, age band or sex changed)."""
        return self.roles is not None or self.age_band is not None or self.sex is not None


@dataclass
class PersonRecord:
    """A person's record as intake keeps it, for correcting it."""

    person_id: UUID
    site: str
    roles: tuple[Role, ...]
    revision: int
    values: dict[str, Any]
    """The personal fields (``PERSONAL_FIELDS``) as stored."""

    def correct(self, changes: Mapping[str, Any], today: date) -> Correction:
        """The correction ``changes`` (field: new value, None to clear) makes: only the fields
        that differ; a name and roles cannot be cleared."""
        cleared = sorted(f for f in REQUIRED_FIELDS if f in changes and changes[f] is None)
        if cleared:
            raise CommandError(
                "validation_error",
                "a person always has a preferred name and at least one role",
                [ErrorDetail(field=f, message="cannot be cleared") for f in cleared],
            )
        values = {
            f: v for f, v in changes.items() if f in PERSONAL_FIELDS and self.values.get(f) != v
        }
        roles: tuple[Role, ...] | None = None
        if "roles" in changes and tuple(changes["roles"]) != self.roles:
            roles = tuple(changes["roles"])
            values["roles"] = list(roles)
        band: AgeBand | None = None
        if "birth_year" in values:
            before, after = (
                age_band(self.values.get("birth_year"), today),
                age_band(values["birth_year"], today),
            )
            band = after if after != before else None
        sex: Sex | None = None
        if "sex" in values:
            sex = values["sex"] if values["sex"] is not None else "undisclosed"
        return Correction(values, roles, band, sex)

    def may_screen(self, on: date) -> None:
        """A referral is screened (again, if need be) on or after the day it was received."""
        if on < self.received_on:
            raise CommandError(
                "validation_error",
                "a referral cannot be screened before it was received",
                on=f"before {self.received_on.isoformat()}",
            )


@dataclass
class ConsentState:
    """The current consent per purpose: the latest record wins; no record means not given."""

    given: dict[str, bool] = field(default_factory=dict)

    def allows(self, purpose: str) -> bool:
        return self.given.get(purpose, False)

    @classmethod
    def latest(cls, records: Iterable[tuple[str, bool, datetime]]) -> ConsentState:
        """The state ``records`` (purpose, given, recorded at) leave: each purpose's latest."""
        state: dict[str, tuple[datetime, bool]] = {}
        for purpose, given, at in records:
            if purpose not in state or at >= state[purpose][0]:
                state[purpose] = (at, given)
        return cls({purpose: given for purpose, (_, given) in state.items()})


def require_service_consent(consent: ConsentState) -> None:
    if not consent.allows("service"):
        raise CommandError(
            "consent_required",
            "the person has not given consent for service",
            person_id="no service consent",
        )


def require_consent_to_share(consent: ConsentState, *, beyond_site: bool, field: str) -> None:
    """A person's id leaves their site (``beyond_site``: ``Organisation.shares_beyond``) only
    with their current ``data_sharing`` consent."""
    if beyond_site and not consent.allows("data_sharing"):
        raise CommandError(
            "consent_required",
            "the person has not given consent for their data to be shared with another site",
            [ErrorDetail(field=field, message="no data_sharing consent")],
        )


@dataclass(frozen=True)
class ConsentWithdrawal:
    """What withdrawing a consent ends in intake."""

    closes_cases: bool
    cancels_handoffs: bool

    @classmethod
    def of(cls, purpose: str, given: bool) -> ConsentWithdrawal:
        """Withdrawing ``service`` closes the open cases and cancels transfers not yet accepted
        (the case closes); withdrawing ``data_sharing`` cancels those transfers. Giving consent
        ends nothing, and reopens nothing."""
        if given:
            return cls(False, False)
        return cls(
            closes_cases=purpose == "service",
            cancels_handoffs=purpose in ("service", "data_sharing"),
        )


@dataclass
class Case:
    case_id: UUID
    person_id: UUID
    site: str
    worker_id: str
    kind: CaseKind
    status: str
    opened_on: date
    closed_on: date | None = None
    close_reason: str | None = None
    referral_id: UUID | None = None
    transferred_from_case_id: UUID | None = None
    transferred_to_case_id: UUID | None = None

    @classmethod
    def open(
        cls,
        person_id: UUID,
        site: str,
        worker_id: str,
        on: date,
        *,
        had_case_here: bool,
        referral_id: UUID | None = None,
    ) -> Case:
        """A new case; someone who had a case at this site before is reactivated."""
        kind: CaseKind = "reactivated" if had_case_here else "new"
        return cls(uuid4(), person_id, site, worker_id, kind, "open", on, referral_id=referral_id)

    def _must_be_open(self) -> None:
        if self.status == "transferring":
            raise CommandError.conflict(
                "a transfer of this case to another site is under way; wait for its answer "
                "(the case query shows it)",
                case_id="transfer under way",
            )
        if self.status != "open":
            raise CommandError.conflict(
                f"this case is {self.status}", case_id=f"case is {self.status}"
            )

    def _not_before_opening(self, on: date) -> None:
        if on < self.opened_on:
            raise CommandError(
                "validation_error",
                "that date is before the case was opened",
                on=f"before {self.opened_on.isoformat()}",
            )

    def close(self, reason: CloseReason, on: date) -> None:
        self._must_be_open()
        self._not_before_opening(on)
        self.status = "closed"
        self.closed_on = on
        self.close_reason = reason

    def close_for_withdrawn_consent(self, on: date) -> bool:
        """Close an open case because the person withdrew their ``service`` consent, on ``on``
        or, if that is earlier, the day it opened; False when the case is not open."""
        if self.status != "open":
            return False
        self.status = "closed"
        self.closed_on = max(on, self.opened_on)
        self.close_reason = "consent_withdrawn"
        return True

    def start_transfer(self, to_site: str, on: date, worker_id: str | None = None) -> Handoff:
        """Hand the case over to ``to_site`` (with ``worker_id`` there, or else this case's
        worker): the case is ``transferring`` until the receiving site answers. Contacts may
        still be logged meanwhile; closing or transferring it again waits for the answer."""
        self._must_be_open()
        self._not_before_opening(on)
        if to_site == self.site:
            raise CommandError(
                "validation_error", "the case is already at that site", to_site="same site"
            )
        self.status = "transferring"
        return Handoff(
            uuid4(),
            self.case_id,
            self.person_id,
            self.site,
            to_site,
            worker_id or self.worker_id,
            on,
        )

    def transfer_completed(self, handoff: Handoff, new_case_id: UUID) -> None:
        """The receiving site opened ``new_case_id``: this case ends, transferred, on the
        transfer's date."""
        if self.status != "transferring":
            raise CommandError.conflict(
                f"this case is {self.status}, not transferring", case_id=f"case is {self.status}"
            )
        self.status = "transferred"
        self.closed_on = handoff.transferred_on
        self.close_reason = "transferred"
        self.transferred_to_case_id = new_case_id

    def transfer_refused(self) -> None:
        """The receiving site refused the transfer, or it was cancelled before the answer: the
        case is open here again."""
        if self.status == "transferring":
            self.status = "open"

    @classmethod
    def transferred_in(
        cls, person_id: UUID, site: str, worker_id: str, on: date, from_case_id: UUID
    ) -> Case:
        """The case a receiving site opens for a transfer from another site's case."""
        return cls(
            uuid4(),
            person_id,
            site,
            worker_id,
            "transferred_in",
            "open",
            on,
            transferred_from_case_id=from_case_id,
        )

    def reassign(self, worker_id: str, on: date) -> str:
        """Give the open case to ``worker_id``; the worker it had."""
        self._must_be_open()
        self._not_before_opening(on)
        if worker_id == self.worker_id:
            raise CommandError(
                "validation_error", "the case is already that worker's", worker_id="same worker"
            )
        previous, self.worker_id = self.worker_id, worker_id
        return previous

    def log_contact(self, on: date) -> None:
        """Contacts may be entered late, for any day the case was open."""
        self.record_on(on)

    def record_on(self, on: date) -> None:
        """Casework (contacts, notes, goal reviews) may be entered late, for any day the case
        was open."""
        self._not_before_opening(on)
        if self.closed_on is not None and on > self.closed_on:
            raise CommandError.conflict(
                f"the case was {self.status} on {self.closed_on.isoformat()}",
                on=f"after {self.closed_on.isoformat()}",
            )


REFUSALS: frozenset[str] = frozenset(
    {
        "conflict",
        "not_found",
        "forbidden",
        "unauthenticated",
        "validation_error",
        "not_allowed",
        "consent_required",
        "capacity_full",
    }
)
"""Answers of the receiving site that sending again cannot change: the handoff is refused.
``unavailable`` (nobody answered, no answer in time, the link cut) and ``internal`` are tried
again."""


def retry_delay(attempts: int, first: float, longest: float) -> float:
    """Seconds before sending a handoff again after ``attempts`` unanswered sends: ``first``,
    doubling, at most ``longest``."""
    return min(first * 2 ** max(attempts - 1, 0), longest)


@dataclass
class Handoff:
    """A case on its way to another site's intake: pending until that site answers."""

    handoff_id: UUID
    case_id: UUID
    person_id: UUID
    from_site: str
    to_site: str
    worker_id: str
    transferred_on: date
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    new_case_id: UUID | None = None

    def _must_be_pending(self) -> None:
        if self.status != "pending":
            raise CommandError.conflict(
                f"this handoff is {self.status}", handoff_id=f"handoff is {self.status}"
            )

    def completed(self, new_case_id: UUID) -> None:
        self._must_be_pending()
        self.attempts += 1
        self.status = "completed"
        self.new_case_id = new_case_id
        self.last_error = None

    def cancel(self, purpose: str) -> None:
        """The person withdrew ``purpose`` consent before the receiving site accepted."""
        self._must_be_pending()
        self.status = "cancelled"
        self.last_error = f"cancelled: {purpose} consent withdrawn"

    def answered(self, code: str, message: str) -> bool:
        """The receiving site answered ``code``: refused for good (True), or to be sent again
        (False). Either way the attempt is counted and the reason kept."""
        self._must_be_pending()
        self.attempts += 1
        self.last_error = f"{code}: {message}"
        if code in REFUSALS:
            self.status = "refused"
            return True
        return False


def score_answers(instruments: Mapping[str, Instrument], code: str, answers: list[int]) -> Score:
    """Score answers with the named instrument; an unknown instrument or answers that do not
    fit it are a ``validation_error`` naming every problem."""
    instrument = instruments.get(code)
    if instrument is None:
        raise CommandError(
            "validation_error",
            f"unknown instrument {code!r}",
            instrument=f"one of {', '.join(sorted(instruments))}",
        )
    try:
        return instrument.score(answers)
    except AnswersInvalid as exc:
        raise CommandError(
            "validation_error",
            f"the answers do not fit {code}",
            [ErrorDetail(field=f, message=m) for f, m in exc.details],
        ) from exc


def _void_once(voided_on: date | None, what: str, field: str) -> None:
    if voided_on is not None:
        raise CommandError.conflict(
            f"this {what} was already voided on {voided_on.isoformat()}", **{field: "voided"}
        )


@dataclass
class Contact:
    """A logged casework contact, as far as voiding it goes."""

    contact_id: UUID
    case_id: UUID
    person_id: UUID
    site: str
    voided_on: date | None = None

    def void(self, on: date) -> None:
        """A contact is voided once."""
        _void_once(self.voided_on, "contact", "contact_id")
        self.voided_on = on


@dataclass
class Assessment:
    """An assessment as far as its safety follow-up and voiding go."""

    assessment_id: UUID
    person_id: UUID
    safety_followup: bool
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledge_note: str | None = None
    site: str | None = None
    instrument: str = ""
    voided_on: date | None = None

    def void(self, on: date) -> None:
        """An assessment is voided once; its follow-up, if any, goes with it."""
        _void_once(self.voided_on, "assessment", "assessment_id")
        self.voided_on = on

    def acknowledge(self, by: str, note: str | None) -> None:
        """Only a raised follow-up is acknowledged, and only once."""
        _void_once(self.voided_on, "assessment", "assessment_id")
        if not self.safety_followup:
            raise CommandError.not_allowed(
                "this assessment raised no safety follow-up", assessment_id="no follow-up"
            )
        if self.acknowledged_at is not None:
            raise CommandError.conflict(
                "already acknowledged", assessment_id="already acknowledged"
            )
        self.acknowledged_by = by
        self.acknowledge_note = note


@dataclass
class Goal:
    """A goal in a case's care plan: open until it is met or dropped."""

    goal_id: UUID
    case_id: UUID
    person_id: UUID
    site: str
    status: str
    set_on: date
    ended_on: date | None = None

    @classmethod
    def set(cls, case: Case, on: date) -> Goal:
        """A new goal, for a case open now (not one transferring, closed or transferred)."""
        case._must_be_open()
        case._not_before_opening(on)
        return cls(uuid4(), case.case_id, case.person_id, case.site, "open", on)

    def _may_record(self, case: Case, on: date) -> None:
        if self.status != "open":
            raise CommandError.conflict(
                f"this goal was {self.status}", goal_id=f"goal {self.status}"
            )
        if on < self.set_on:
            raise CommandError(
                "validation_error",
                "that date is before the goal was set",
                on=f"before {self.set_on.isoformat()}",
            )
        case.record_on(on)

    def review(self, case: Case, on: date) -> None:
        """An open goal may be reviewed on any day from its setting while its case was open."""
        self._may_record(case, on)

    def end(self, case: Case, outcome: GoalOutcome, on: date) -> None:
        """An open goal is met or dropped once, on a day it could be reviewed."""
        self._may_record(case, on)
        self.status = outcome
        self.ended_on = on


def screen_answers(screenings: Mapping[str, Screening], code: str, answers: list[int]) -> Screened:
    """Screen answers with the named screening; an unknown screening or answers that do not fit
    it are a ``validation_error`` naming every problem."""
    screening = screenings.get(code)
    if screening is None:
        raise CommandError(
            "validation_error",
            f"unknown screening {code!r}",
            screening=f"one of {', '.join(sorted(screenings))}",
        )
    try:
        return screening.screen(answers)
    except AnswersDoNotFit as exc:
        raise CommandError(
            "validation_error",
            f"the answers do not fit {code}",
            [ErrorDetail(field=f, message=m) for f, m in exc.details],
        ) from exc
