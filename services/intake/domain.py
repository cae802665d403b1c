"""Intake's rules, in the agency's words. Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from shared.kit.contracts.intake import AgeBand, CloseReason, Decision
from shared.kit.contracts.replies import CommandError

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
    if phone is None:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-8:] if len(digits) >= 8 else digits


@dataclass
class Referral:
    referral_id: UUID
    status: str
    received_on: date

    def decide(self, decision: Decision, on: date) -> None:
        if self.status != "received":
            raise CommandError(
                "conflict",
                f"this referral was already {self.status}",
                referral_id=f"already {self.status}",
            )
        if on < self.received_on:
            raise CommandError(
                "validation_error",
                "a referral cannot be decided before it was received",
                on=f"before {self.received_on.isoformat()}",
            )
        self.status = decision


@dataclass
class ConsentState:
    """The current consent per purpose: the latest record wins; no record means not given."""

    given: dict[str, bool] = field(default_factory=dict)

    def allows(self, purpose: str) -> bool:
        return self.given.get(purpose, False)


@dataclass
class Case:
    case_id: UUID
    person_id: UUID
    site: str
    status: str
    opened_on: date
    closed_on: date | None = None

    def _must_be_open(self) -> None:
        if self.status != "open":
            raise CommandError(
                "conflict", f"this case is {self.status}", case_id=f"case is {self.status}"
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

    def transfer(self, to_site: str, on: date) -> None:
        self._must_be_open()
        self._not_before_opening(on)
        if to_site == self.site:
            raise CommandError(
                "validation_error", "the case is already at that site", to_site="same site"
            )
        self.status = "transferred"

    def log_contact(self, on: date) -> None:
        """Contacts may be entered late, for any day the case was open."""
        self._not_before_opening(on)
        if self.closed_on is not None and on > self.closed_on:
            raise CommandError(
                "conflict",
                f"the case was {self.status} on {self.closed_on.isoformat()}",
                on=f"after {self.closed_on.isoformat()}",
            )


def require_service_consent(consent: ConsentState) -> None:
    if not consent.allows("service"):
        raise CommandError(
            "consent_required",
            "the person has not given consent for service",
            person_id="no service consent",
        )
