"""Volunteers' public API: family volunteers and P.E.E.R. peer supporters, duties, hours, matches.

Volunteers are people registered in intake; this service knows them by ``person_id`` and
keeps no personal data of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.kit.contracts.catalogue import command, event, query
from shared.kit.contracts.messages import BusinessCommand, Command, EventData, Label, Query
from shared.kit.identity.access import DUTIES, MANAGERS, VOLUNTEERING

Code = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
PeerContactMode = Literal["phone", "visit", "online", "group"]
MatchEndReason = Literal[
    "goals_met",
    "user_request",
    "peer_request",
    "no_contact",
    "case_closed",
    "other",
    "consent_withdrawn",
]
"""``consent_withdrawn``: ended by volunteers when the supported person withdrew their
``service`` consent."""
DutyCancelReason = Literal["session_cancelled", "consent_withdrawn"]
VoidReason = Literal["wrong_volunteer", "wrong_match", "wrong_figures", "duplicate", "other"]
AssignmentStatus = Literal["proposed", "confirmed", "declined", "cancelled"]
Language = Annotated[str, Field(min_length=1, max_length=32)]


class WeeklySlot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _ends_after_start(self) -> WeeklySlot:
        if self.end <= self.start:
            raise ValueError("a slot ends after it starts")
        return self


# --- commands -------------------------------------------------------------------------------


@command("volunteers", "register_volunteer", access=VOLUNTEERING)
class RegisterVolunteer(BusinessCommand):
    person_id: UUID
    teams: list[Label] = Field(min_length=1, max_length=10)
    skills: list[Label] = Field(default_factory=list, max_length=30)
    languages: list[Language] = Field(default_factory=list, max_length=10)


@command("volunteers", "join_team", access=VOLUNTEERING)
class JoinTeam(BusinessCommand):
    volunteer_id: UUID
    team: str = Code


@command("volunteers", "record_training", access=VOLUNTEERING)
class RecordTraining(Command):
    volunteer_id: UUID
    course: str = Code
    hours: float = Field(gt=0, le=1000)
    completed_on: dt.date


@command("volunteers", "set_availability", access=VOLUNTEERING)
class SetAvailability(Command):
    volunteer_id: UUID
    slots: list[WeeklySlot] = Field(max_length=50)
    unavailable_dates: list[dt.date] = Field(default_factory=list, max_length=366)


@command("volunteers", "request_volunteers", access=VOLUNTEERING)
class RequestVolunteers(Command):
    session_id: UUID
    role: str = Code
    count: int = Field(ge=1, le=50)
    skills: list[Label] = Field(default_factory=list, max_length=10)
    teams: list[Label] | None = Field(
        default=None,
        max_length=20,
        description="Teams to pick from; default every team active at the site.",
    )


@command("volunteers", "assign_volunteer", access=VOLUNTEERING)
class AssignVolunteer(Command):
    """A coordinator names the volunteer for a duty: checked like any pick (active, in a team
    active for the duty, skills, availability, no clash); a refusal names the check."""

    session_id: UUID
    volunteer_id: UUID
    role: str = Code
    skills: list[Label] = Field(default_factory=list, max_length=10)
    teams: list[Label] | None = Field(
        default=None,
        max_length=20,
        description="Teams the duty is for; default any team the volunteer is active in.",
    )


@command("volunteers", "deactivate_volunteer", access=VOLUNTEERING)
class DeactivateVolunteer(BusinessCommand):
    """Marks a volunteer inactive: never picked nor named for a duty until reactivated."""

    volunteer_id: UUID
    reason: Literal["on_leave", "moved_away", "stopped", "other"] = "other"


@command("volunteers", "reactivate_volunteer", access=VOLUNTEERING)
class ReactivateVolunteer(BusinessCommand):
    volunteer_id: UUID


@command(
    "volunteers",
    "confirm_assignment",
    access=DUTIES,
)
class ConfirmAssignment(Command):
    assignment_id: UUID


@command(
    "volunteers",
    "decline_assignment",
    access=DUTIES,
)
class DeclineAssignment(Command):
    assignment_id: UUID
    reason: str | None = Field(default=None, max_length=500)


@command(
    "volunteers",
    "log_hours",
    access=DUTIES,
)
class LogHours(BusinessCommand):
    """Hours a volunteer gave; with ``assignment_id`` and no minutes, the session's length."""

    volunteer_id: UUID
    minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    date: dt.date | None = Field(default=None, description="The day worked (same as ``on``).")
    activity: str = Field(default="duty", min_length=1, max_length=120)
    assignment_id: UUID | None = None
    team: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Default: the volunteer's first team.",
    )


@command("volunteers", "void_hours", access=VOLUNTEERING)
class VoidHours(Command):
    """An hours entry typed by mistake stops counting (a duty's hours may then be logged
    again)."""

    hours_id: UUID
    reason: VoidReason


@command("volunteers", "void_peer_contact", access=VOLUNTEERING)
class VoidPeerContact(Command):
    """A peer contact typed by mistake stops counting."""

    contact_id: UUID
    reason: VoidReason


@command("volunteers", "start_peer_match", access=VOLUNTEERING)
class StartPeerMatch(BusinessCommand):
    peer_volunteer_id: UUID
    person_id: UUID


@command(
    "volunteers",
    "log_peer_contact",
    access=DUTIES,
)
class LogPeerContact(BusinessCommand):
    match_id: UUID
    date: dt.date | None = None
    minutes: int = Field(ge=1, le=24 * 60)
    mode: PeerContactMode


@command("volunteers", "end_peer_match", access=VOLUNTEERING)
class EndPeerMatch(BusinessCommand):
    match_id: UUID
    reason: MatchEndReason


# --- queries --------------------------------------------------------------------------------


@query("volunteers", "volunteer", access=VOLUNTEERING)
class VolunteerQuery(Query):
    volunteer_id: UUID


@query("volunteers", "hours", access=VOLUNTEERING)
class HoursQuery(Query):
    from_date: dt.date = Field(alias="from")
    to_date: dt.date = Field(alias="to")
    volunteer_id: UUID | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@query("volunteers", "recognition", access=VOLUNTEERING)
class RecognitionQuery(Query):
    milestones: list[int] = Field(default_factory=lambda: [50, 100, 200, 500], max_length=20)


@query(
    "volunteers",
    "assignments",
    access=DUTIES,
)
class AssignmentsQuery(Query):
    session_id: UUID


@query("volunteers", "volunteer_duties", access=DUTIES)
class VolunteerDutiesQuery(Query):
    """A volunteer's coming duties (proposed or confirmed, sessions not cancelled), soonest
    first; a peer supporter asks for their own only."""

    volunteer_id: UUID
    from_date: dt.date | None = Field(
        default=None, alias="from", description="Default: today in the organisation's zone."
    )
    days: int = Field(default=28, ge=1, le=366)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@query("volunteers", "unfilled_duties", access=VOLUNTEERING)
class UnfilledDutiesQuery(Query):
    """Duties asked for (``request_volunteers``) at the site's coming sessions with fewer
    volunteers standing than asked, soonest first."""

    from_date: dt.date | None = Field(
        default=None, alias="from", description="Default: today in the organisation's zone."
    )
    days: int = Field(default=28, ge=1, le=366)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@query("volunteers", "volunteers", access=VOLUNTEERING)
class VolunteersQuery(Query):
    """The volunteers of the site (and its child sites): ids, teams, skills, languages and all
    the minutes they logged (names are intake's to give)."""

    team: str | None = Field(default=None, min_length=1, max_length=64)
    include_inactive: bool = False


PeerMatchStatus = Literal["active", "ended", "all"]


@query("volunteers", "peer_matches", access=DUTIES)
class PeerMatchesQuery(Query):
    """Peer matches at the site (and its child sites), newest first (``active``: those still
    open), optionally one peer supporter's, each with its contacts' count, minutes and last
    date (voided contacts left out). With ``match_id``: that match, whatever its status, with
    its contacts newest first. A peer supporter sees their own matches only."""

    status: PeerMatchStatus = "active"
    volunteer_id: UUID | None = None
    match_id: UUID | None = None


# --- events ---------------------------------------------------------------------------------


@event("volunteers.volunteer.registered")
class VolunteerRegistered(EventData):
    """A registered person became a volunteer; ``service_user`` says they also use services."""

    volunteer_id: UUID
    person_id: UUID
    teams: list[str]
    skills: list[str] | None = Field(
        default=None,
        description="Sent by earlier versions only: a volunteer's skills stay in volunteers.",
    )
    service_user: bool
    registered_on: dt.date


@event("volunteers.volunteer.joined_team")
class VolunteerJoinedTeam(EventData):
    """A volunteer joined another team."""

    volunteer_id: UUID
    team: str
    joined_on: dt.date


@event("volunteers.volunteer.deactivated")
class VolunteerDeactivated(EventData):
    """A volunteer was marked inactive: no duties until reactivated."""

    volunteer_id: UUID
    reason: str
    on: dt.date


@event("volunteers.volunteer.reactivated")
class VolunteerReactivated(EventData):
    """An inactive volunteer was marked active again."""

    volunteer_id: UUID
    on: dt.date


@event("volunteers.training.completed")
class TrainingCompleted(EventData):
    """A volunteer completed a course; ``active_teams`` are the teams they may now serve in."""

    volunteer_id: UUID
    course: str
    hours: float
    completed_on: dt.date
    active_teams: list[str]


@event("volunteers.assignment.made")
class AssignmentMade(EventData):
    """A volunteer was picked for a session duty (``chosen_by_coordinator``: named for it rather
    than picked by the rota)."""

    assignment_id: UUID
    volunteer_id: UUID
    session_id: UUID
    role: str
    date: dt.date
    chosen_by_coordinator: bool = False


@event("volunteers.assignment.confirmed")
class AssignmentConfirmed(EventData):
    """The volunteer confirmed the duty."""

    assignment_id: UUID
    volunteer_id: UUID
    session_id: UUID


@event("volunteers.assignment.declined")
class AssignmentDeclined(EventData):
    """The volunteer declined the duty (a replacement is picked if one can be)."""

    assignment_id: UUID
    volunteer_id: UUID
    session_id: UUID
    replacement_assignment_id: UUID | None = None


@event("volunteers.assignment.cancelled")
class AssignmentCancelled(EventData):
    """The duty is off: its session was cancelled, or the volunteer withdrew their
    ``service`` consent before it (``reason``)."""

    assignment_id: UUID
    volunteer_id: UUID
    session_id: UUID
    reason: DutyCancelReason = "session_cancelled"


@event("volunteers.hours.logged")
class HoursLogged(EventData):
    """Volunteer hours on a day, for one team."""

    hours_id: UUID
    volunteer_id: UUID
    team: str
    minutes: int
    date: dt.date
    activity: str | None = Field(
        default=None,
        description="Sent by earlier versions only: the words of an activity stay in volunteers.",
    )
    assignment_id: UUID | None = None


@event("volunteers.hours.voided")
class HoursVoided(EventData):
    """An hours entry was voided: it counts nowhere. Carries the entry's facts, so reporting
    may apply it before or after ``hours.logged``."""

    hours_id: UUID
    volunteer_id: UUID
    team: str
    minutes: int
    date: dt.date
    reason: VoidReason


@event("volunteers.peer_match.started")
class PeerMatchStarted(EventData):
    """A trained peer supporter was matched one to one with a service user."""

    match_id: UUID
    peer_volunteer_id: UUID
    person_id: UUID
    started_on: dt.date


@event("volunteers.peer_contact.logged")
class PeerContactLogged(EventData):
    """A peer supporter was in contact with the person they are matched with."""

    contact_id: UUID
    match_id: UUID
    date: dt.date
    minutes: int
    mode: PeerContactMode


@event("volunteers.peer_contact.voided")
class PeerContactVoided(EventData):
    """A peer contact was voided: it counts nowhere. Carries the contact's facts, so
    reporting may apply it before or after ``peer_contact.logged``."""

    contact_id: UUID
    match_id: UUID
    date: dt.date
    minutes: int
    mode: PeerContactMode
    reason: VoidReason


@event("volunteers.peer_match.ended")
class PeerMatchEnded(EventData):
    """A peer match ended, with a reason."""

    match_id: UUID
    reason: MatchEndReason
    ended_on: dt.date


# --- access requests (issue 17) -------------------------------------------------------------


@query("volunteers", "person_data", access=MANAGERS)
class PersonDataQuery(Query):
    """What volunteers holds about a person at the site and below it, for an access request.

    Intake's ``subject_access_export`` asks it: their volunteer record, teams,
    trainings, availability, duties and hours; peer matches and contacts, as supporter or as
    the person supported; the roles, consent and carer links learnt from intake. A person
    volunteers knows nothing of gets empty lists, not ``not_found``."""

    person_id: UUID
