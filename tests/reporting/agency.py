"""Staff at work through the real services, and a ledger of everything they did.

The ledger records the commands' inputs (and the ids the services answered), never anything
reporting computed: ``expected.py`` derives the figures from it independently.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient

from tests.conftest import ServiceClient, eventually


class _Patient(ServiceClient):
    """Asks again while another service has not yet heard of a person, case or session:
    services learn of each other only through events (a refusal changes nothing)."""

    async def ok(self, name: str, **fields: Any) -> dict[str, Any]:
        for _ in range(200):
            reply = await self.cmd(name, **fields)
            if reply.ok:
                assert reply.result is not None
                return reply.result
            assert reply.error is not None
            if reply.error.code not in ("not_found", "not_allowed", "consent_required"):
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"{name} failed: {reply.error}")


@dataclass
class Ledger:
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    referrals: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    goals: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrolments: list[dict[str, Any]] = field(default_factory=list)
    volunteers: dict[str, dict[str, Any]] = field(default_factory=dict)
    hours: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    matches: dict[str, dict[str, Any]] = field(default_factory=dict)
    peer_contacts: list[dict[str, Any]] = field(default_factory=list)
    outreach: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    outcome_consent: dict[str, bool] = field(default_factory=dict)


class Agency:
    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.ledger = Ledger()
        self._order = itertools.count()

    def _client(self, service: str, site: str) -> _Patient:
        return _Patient(self.nc, service, site, "sw-lee")

    async def register(self, site: str, name: str, roles: list[str], on: str) -> str:
        result = await self._client("intake", site).ok(
            "register_person", preferred_name=name, roles=roles, on=on, register_anyway=True
        )
        person = str(result["person_id"])
        self.ledger.people[person] = {"site": site, "roles": roles, "on": on}
        return person

    async def consent(self, site: str, person: str, purpose: str, given: bool, on: str) -> None:
        await self._client("intake", site).ok(
            "record_consent", person_id=person, purpose=purpose, given=given, on=on
        )
        if purpose == "outcome_data":
            self.ledger.outcome_consent[person] = given

    async def referral(self, site: str, source: str, on: str) -> str:
        result = await self._client("intake", site).ok(
            "receive_referral", source=source, reason="needs support", on=on
        )
        referral = str(result["referral_id"])
        self.ledger.referrals[referral] = {"site": site, "source": source, "on": on}
        return referral

    async def decide(self, site: str, referral: str, decision: str, on: str) -> None:
        await self._client("intake", site).ok(
            "decide_referral", referral_id=referral, decision=decision, reason="screened", on=on
        )
        self.ledger.referrals[referral].update(decision=decision, decided_on=on, decided_at=site)

    async def link(self, site: str, carer: str, cared_for: str, relationship: str, on: str) -> None:
        await self._client("intake", site).ok(
            "link_carer", carer_id=carer, cared_for_id=cared_for, relationship=relationship, on=on
        )
        self.ledger.links.append({"site": site, "relationship": relationship, "on": on})

    async def open_case(self, site: str, person: str, on: str) -> str:
        result = await self._client("intake", site).ok(
            "open_case", person_id=person, worker_id="sw-lee", on=on
        )
        case = str(result["case_id"])
        self.ledger.cases[case] = {
            "person": person,
            "site": site,
            "roles": self.ledger.people[person]["roles"],
            "kind": result["kind"],
            "opened": on,
            "ended": None,
            "reason": None,
        }
        return case

    async def close_case(self, site: str, case: str, reason: str, on: str) -> None:
        await self._client("intake", site).ok("close_case", case_id=case, reason=reason, on=on)
        self.ledger.cases[case].update(ended=on, reason=reason)

    async def transfer(self, site: str, case: str, to_site: str, on: str) -> str:
        intake = self._client("intake", site)
        result = await intake.ok("transfer_case", case_id=case, to_site=to_site, on=on)
        old = self.ledger.cases[case]
        old["ended"] = on  # ended here by transfer: not a closure
        if "new_case_id" not in result:  # the handoff outlasted the command's short wait

            async def moved() -> str | None:
                found = await intake.ok("qry:case", case_id=case)
                return found["transferred_to_case_id"]

            result["new_case_id"] = await eventually(moved)
        new = str(result["new_case_id"])
        self.ledger.cases[new] = {
            **old,
            "site": to_site,
            "kind": "transferred_in",
            "opened": on,
            "ended": None,
            "reason": None,
        }
        return new

    async def contact(self, site: str, case: str, mode: str, minutes: int, on: str) -> None:
        await self._client("intake", site).ok(
            "log_contact", case_id=case, mode=mode, minutes=minutes, on=on
        )
        self.ledger.contacts.append({"site": site, "mode": mode, "minutes": minutes, "on": on})

    async def outreach(
        self, site: str, count: int, mode: str, minutes: int | None, on: str
    ) -> None:
        await self._client("intake", site).ok(
            "log_outreach", count=count, mode=mode, minutes=minutes, on=on
        )
        self.ledger.outreach.append(
            {"site": site, "count": count, "mode": mode, "minutes": minutes or 0, "on": on}
        )

    async def goal(self, site: str, case: str, on: str) -> str:
        result = await self._client("intake", site).ok(
            "set_goal", case_id=case, text="Keep a weekly routine", on=on
        )
        goal = str(result["goal_id"])
        self.ledger.goals[goal] = {"site": site, "met": None}
        return goal

    async def review_goal(self, site: str, goal: str, progress: str, on: str) -> None:
        await self._client("intake", site).ok(
            "review_goal", goal_id=goal, progress=progress, note="Going to the group", on=on
        )

    async def end_goal(self, site: str, goal: str, outcome: str, on: str) -> None:
        await self._client("intake", site).ok("end_goal", goal_id=goal, outcome=outcome, on=on)
        if outcome == "met":
            self.ledger.goals[goal]["met"] = on

    async def assess(
        self, site: str, person: str, instrument: str, timepoint: str, answers: list[int], on: str
    ) -> None:
        await self._client("intake", site).ok(
            "record_assessment",
            person_id=person,
            instrument=instrument,
            timepoint=timepoint,
            answers=answers,
            on=on,
        )
        self.ledger.scores.append(
            {
                "person": person,
                "site": site,
                "instrument": instrument,
                "timepoint": timepoint,
                "answers": answers,
                "on": on,
                "order": next(self._order),
            }
        )

    async def programme(self, site: str, **fields: Any) -> list[str]:
        result = await self._client("groups", site).ok("create_programme", **fields)
        sessions = [str(s) for s in result["session_ids"]]
        from datetime import date, timedelta

        schedule = fields["schedule"]
        first = date.fromisoformat(schedule["first_date"])
        step = {"weekly": 7, "daily": 1, "once": 0}[schedule["repeat"]]
        for i, session in enumerate(sessions):
            self.ledger.sessions[session] = {
                "site": site,
                "type": fields["type"],
                "tags": fields.get("tags", []),
                "on": (first + timedelta(days=step * i)).isoformat(),
                "held": False,
                "cancelled": False,
                "present": [],
                "walk_ins": 0,
            }
        self.programme_id = result["programme_id"]
        return sessions

    async def enrol(self, site: str, programme: str, person: str, on: str) -> str:
        result = await self._client("groups", site).ok(
            "enrol", programme_id=programme, person_id=person, on=on
        )
        self.ledger.enrolments.append({"site": site, "status": result["status"], "on": on})
        return str(result["enrollment_id"])

    async def attendance(
        self, site: str, session: str, present: list[str], absent: list[str], walk_ins: int = 0
    ) -> None:
        await self._client("groups", site).ok(
            "record_attendance",
            session_id=session,
            present=present,
            absent=absent,
            walk_ins=walk_ins,
        )
        # A record taken again replaces the earlier one.
        self.ledger.sessions[session].update(held=True, present=present, walk_ins=walk_ins)

    async def cancel(self, site: str, session: str) -> None:
        await self._client("groups", site).ok("cancel_session", session_id=session, reason="rain")
        self.ledger.sessions[session]["cancelled"] = True

    # --- volunteers -------------------------------------------------------------------------

    async def volunteer(
        self, site: str, person: str, teams: list[str], on: str, courses: list[str]
    ) -> str:
        client = self._client("volunteers", site)
        result = await client.ok("register_volunteer", person_id=person, teams=teams, on=on)
        volunteer = str(result["volunteer_id"])
        for course in courses:
            await client.ok(
                "record_training", volunteer_id=volunteer, course=course, hours=6, completed_on=on
            )
        roles = self.ledger.people[person]["roles"]
        service_user = bool(
            {"person_in_recovery", "family_carer", "rehabilitee", "si_affected"} & set(roles)
        )
        self.ledger.volunteers[volunteer] = {
            "site": site,
            "teams": teams,
            "service_user": service_user,
            "on": on,
        }
        return volunteer

    async def log_hours(self, site: str, volunteer: str, team: str, minutes: int, on: str) -> None:
        await self._client("volunteers", site).ok(
            "log_hours", volunteer_id=volunteer, team=team, minutes=minutes, date=on
        )
        self.ledger.hours.append(
            {"site": site, "volunteer": volunteer, "team": team, "minutes": minutes, "on": on}
        )

    async def request_duty(self, site: str, session: str, role: str, count: int) -> list[str]:
        result = await self._client("volunteers", site).ok(
            "request_volunteers", session_id=session, role=role, count=count
        )
        made = [str(a) for a in result["assignments"]]
        for _ in made:
            on = self.ledger.sessions[session]["on"]
            self.ledger.assignments.append({"site": site, "role": role, "on": on})
        return made

    async def available(self, site: str, volunteer: str, weekday: int) -> None:
        await self._client("volunteers", site).ok(
            "set_availability",
            volunteer_id=volunteer,
            slots=[{"weekday": weekday, "start": "08:00", "end": "21:00"}],
        )

    async def match(self, site: str, peer: str, person: str, on: str) -> str:
        result = await self._client("volunteers", site).ok(
            "start_peer_match", peer_volunteer_id=peer, person_id=person, on=on
        )
        match = str(result["match_id"])
        self.ledger.matches[match] = {"site": site, "started": on, "ended": None}
        return match

    async def peer_contact(self, site: str, match: str, mode: str, minutes: int, on: str) -> None:
        await self._client("volunteers", site).ok(
            "log_peer_contact", match_id=match, mode=mode, minutes=minutes, date=on
        )
        self.ledger.peer_contacts.append({"site": site, "mode": mode, "minutes": minutes, "on": on})

    async def end_match(self, site: str, match: str, on: str) -> None:
        await self._client("volunteers", site).ok(
            "end_peer_match", match_id=match, reason="goals_met", on=on
        )
        self.ledger.matches[match]["ended"] = on
