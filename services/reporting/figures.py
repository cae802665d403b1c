"""Every figure of docs/figures.md for some sites and a period, exact: the arithmetic on what
``views.Reads`` gathers from the read models.

Counts are ints and hours floats (``suppression`` relies on it). Breakdowns over a
closed list of codes list every code, with zeros; open lists (teams, duty roles) list the
codes seen in the period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, get_args

from services.reporting.domain import Pair, hours, outcome_stats, pairs
from services.reporting.views import Reads
from shared.agency.instruments import Instrument
from shared.kit.contracts.groups import EnrolmentStatus, ProgrammeType
from shared.kit.contracts.intake import (
    CloseReason,
    ContactMode,
    Decision,
    OutreachMode,
    ReferralSource,
    Relationship,
    Role,
)
from shared.kit.contracts.volunteers import PeerContactMode

ROLES: tuple[str, ...] = get_args(Role)
KINDS = ("new", "reactivated")
HEADLINE = (
    "referrals_received",
    "cases_opened",
    "cases_active_end",
    "sessions_held",
    "attendances",
    "unique_participants",
    "volunteer_hours",
    "peer_contacts",
)


def by_code(codes: Iterable[str], counts: Mapping[str, Any], zero: Any = 0) -> dict[str, Any]:
    """Every code of a closed list, in its order, then any unexpected code seen."""
    out = {code: counts.get(code, zero) for code in codes}
    out.update({k: v for k, v in sorted(counts.items()) if k not in out})
    return out


def total(codes: Iterable[str], counts: Mapping[str, int], dimension: str) -> dict[str, Any]:
    """A count and its breakdown over one dimension."""
    return {"total": sum(counts.values()), "by": {dimension: by_code(codes, counts)}}


def only_total(count: int) -> dict[str, Any]:
    return {"total": count, "by": {}}


def _each(lists: Iterable[Sequence[str]]) -> dict[str, int]:
    """How many of the lists hold each code (a list holding one twice counts once)."""
    return dict(Counter(code for codes in lists for code in set(codes)))


def people_registered(roles: Sequence[Sequence[str]]) -> dict[str, Any]:
    """A person counts once in the total and once in each of their roles."""
    return {"total": len(roles), "by": {"role": by_code(ROLES, _each(roles))}}


def cases_opened(opened: Sequence[tuple[Sequence[str], str]]) -> dict[str, Any]:
    kinds = Counter(kind for _, kind in opened)
    return {
        "total": len(opened),
        "by": {
            "role": by_code(ROLES, _each(roles for roles, _ in opened)),
            "kind": by_code(KINDS, dict(kinds)),
        },
    }


def cases_active_end(roles: Sequence[Sequence[str]]) -> dict[str, Any]:
    return {"total": len(roles), "by": {"role": by_code(ROLES, _each(roles))}}


def contacts(
    counts: Mapping[str, int], minutes: Mapping[str, int], modes: Iterable[str]
) -> dict[str, Any]:
    """Contacts per mode, with their hours (each mode's minutes rounded on their own)."""
    modes = tuple(modes)
    return {
        "total": sum(counts.values()),
        "hours": hours(sum(minutes.values())),
        "by": {"mode": by_code(modes, counts)},
        "hours_by": {"mode": by_code(modes, {k: hours(v) for k, v in minutes.items()}, zero=0.0)},
    }


def unique_participants(count: int, roles: Mapping[str, int]) -> dict[str, Any]:
    return {"total": count, "by": {"role": by_code(ROLES, roles)}}


def volunteers_active(worked: Sequence[tuple[Any, str]]) -> dict[str, Any]:
    """Distinct volunteers with hours; by team, each volunteer once in each team worked for."""
    teams = Counter(team for _, team in worked)
    return {
        "total": len({volunteer for volunteer, _ in worked}),
        "by": {"team": by_code((), dict(teams))},
    }


def volunteer_hours(minutes: Mapping[str, int]) -> dict[str, Any]:
    return {
        "total": hours(sum(minutes.values())),
        "by": {"team": {k: hours(v) for k, v in sorted(minutes.items())}},
    }


def users_turned_volunteers(teams: Sequence[Sequence[str]]) -> dict[str, Any]:
    return {"total": len(teams), "by": {"team": by_code((), _each(teams))}}


async def paired(reads: Reads, instrument: str) -> list[Pair]:
    """The paired outcomes on ``instrument`` of the people these figures cover."""
    return pairs(
        await reads.scores(instrument),
        reads.period,
        None if reads.sites is None else set(reads.sites),
        await reads.consenting(),
    )


async def every_figure(reads: Reads, instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    """Every figure, in the order of docs/figures.md."""
    f: dict[str, Any] = {}
    sources = await reads.counts("referrals", "received_on", "source")
    f["referrals_received"] = total(get_args(ReferralSource), sources, "source")
    decisions = await reads.counts("referrals", "decided_on", "decision", site="decision_site")
    f["referrals_decided"] = total(get_args(Decision), decisions, "decision")
    f["people_registered"] = people_registered(await reads.registered_roles())
    f["cases_opened"] = cases_opened(await reads.cases_opened())
    f["case_contacts"] = contacts(
        *await reads.contacts("case_contacts", "contact_on"), get_args(ContactMode)
    )
    reasons = await reads.counts("cases", "closed_on", "close_reason")
    f["cases_closed"] = total(get_args(CloseReason), reasons, "reason")
    f["cases_active_end"] = cases_active_end(await reads.active_case_roles())
    f["goals_met"] = only_total(await reads.goals_met())
    links = await reads.counts("carer_links", "linked_on", "relationship")
    f["carers_linked"] = total(get_args(Relationship), links, "relationship")
    types: tuple[str, ...] = get_args(ProgrammeType)
    held = await reads.counts(
        "sessions", "session_on", "programme_type", also="held AND NOT cancelled"
    )
    f["sessions_held"] = total(types, held, "type")
    cancelled = await reads.counts("sessions", "session_on", "programme_type", also="cancelled")
    f["sessions_cancelled"] = total(types, cancelled, "type")
    f["attendances"] = total(types, await reads.attendances(), "type")
    f["unique_participants"] = unique_participants(*await reads.unique_participants())
    statuses = await reads.counts("enrolments", "enrolled_on", "status")
    f["enrolments"] = total(get_args(EnrolmentStatus), statuses, "status")
    f["volunteers_active"] = volunteers_active(await reads.volunteer_teams_worked())
    f["volunteer_hours"] = volunteer_hours(await reads.volunteer_minutes())
    duties = await reads.counts("assignments", "session_on", "role")
    f["volunteer_assignments"] = total((), duties, "role")
    f["users_turned_volunteers"] = users_turned_volunteers(await reads.service_users_volunteering())
    f["peer_matches_started"] = only_total(await reads.peer_matches_started())
    f["peer_matches_active_end"] = only_total(await reads.peer_matches_active_end())
    f["peer_contacts"] = contacts(
        *await reads.contacts("peer_contacts", "contact_on"), get_args(PeerContactMode)
    )
    f["outreach_contacts"] = contacts(*await reads.outreach(), get_args(OutreachMode))
    f["outcomes"] = {
        code: outcome_stats(instrument, await paired(reads, code))
        for code, instrument in sorted(instruments.items())
    }
    return f


async def hours_contributors(reads: Reads) -> dict[str, int]:
    """How many people each hours number comes from, by its path in the figures: private side
    data for suppression (hours of fewer than 5 people are hidden), never published.

    Volunteer hours: the volunteers (per team). Peer contacts: the matches, each a supporter and
    the person supported. Outreach: the people contacted. Casework contacts: the distinct
    people the contacts were with."""
    found: dict[str, int] = {}
    worked = await reads.volunteer_teams_worked()
    found["volunteer_hours.total"] = len({volunteer for volunteer, _ in worked})
    for team, n in Counter(team for _, team in worked).items():
        found[f"volunteer_hours.by.team.{team}"] = n
    matches, per_mode = await reads.peer_matches_contacted()
    found["peer_contacts.hours"] = matches
    for mode, n in per_mode.items():
        found[f"peer_contacts.hours_by.mode.{mode}"] = n
    people, per_mode = await reads.people_in_contacts()
    found["case_contacts.hours"] = people
    for mode, n in per_mode.items():
        found[f"case_contacts.hours_by.mode.{mode}"] = n
    counts, _ = await reads.outreach()
    found["outreach_contacts.hours"] = sum(counts.values())
    for mode, n in counts.items():
        found[f"outreach_contacts.hours_by.mode.{mode}"] = n
    return found
