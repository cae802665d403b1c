"""Concurrent staff clients sending a realistic mix of every service's commands.

A client sends a command and, on no reply, a timeout, no responders, ``unavailable`` (or the
``internal`` the contract should never give), sends the SAME command with the same
``command_id`` again until it gets a definite reply: that is what makes "acknowledged" exact.
About 5% of sends repeat an earlier acknowledged command on purpose; the repeat must return
the first reply and change nothing. Each acknowledged command's effects go into the ledger.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nats.aio.client import Client as NatsClient

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.requests import request
from shared.kit.contracts.replies import Reply
from tests.identity import HEAD_OFFICE
from tests.reliability.ledger import Expectations, effects_of

SITES = ("nanyuan", "jinsha", "longjin", "icmhc", "clubhouse")
RETRY_CODES = frozenset({"unavailable", "internal"})
# Refusals that only mean another service has not heard of something yet (events in flight):
# the same command is sent again after a pause, within the propagation bound.
PROPAGATION_CODES = frozenset({"not_found", "consent_required"})
ZONE = ZoneInfo(load_organisation(DEMO_ORGANISATION).timezone)


def today() -> date:
    """The organisation's business date now (what a command without ``on`` counts by)."""
    return datetime.now(ZONE).date()


@dataclass
class Tally:
    """One scenario's command accounting."""

    sent: int = 0
    attempts: int = 0
    acknowledged: int = 0
    repeats: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    transient: Counter[str] = field(default_factory=Counter)
    unresolved: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    expected: Expectations = field(default_factory=Expectations)


@dataclass
class Sent:
    service: str
    name: str
    site: str
    payload: dict[str, Any]
    reply: Reply


class Sender:
    """Sends commands until each has a definite reply, within a bounded time."""

    def __init__(
        self,
        nc: NatsClient,
        tally: Tally,
        *,
        command_deadline: float,
        propagation_deadline: float,
        attempt_timeout: float = 5.0,
    ) -> None:
        self.nc = nc
        self.tally = tally
        self.command_deadline = command_deadline
        self.propagation_deadline = propagation_deadline
        self.attempt_timeout = attempt_timeout

    async def _definite(
        self, service: str, name: str, site: str, payload: dict[str, Any], waits_for_events: bool
    ) -> Reply | None:
        began = time.monotonic()
        pause = 0.1
        while True:
            self.tally.attempts += 1
            try:
                reply = await request(
                    self.nc,
                    "cmd",
                    site,
                    service,
                    name,
                    payload,
                    timeout=self.attempt_timeout,
                    token=HEAD_OFFICE,
                )
            except Exception as exc:  # noqa: BLE001 - any transport failure: send the same again
                self.tally.transient[type(exc).__name__] += 1
                reply = None
            if reply is not None and reply.ok:
                return reply
            if reply is not None and reply.error is not None:
                code = reply.error.code
                if code == "internal":
                    self.tally.violations.append(
                        f"{service}.{name} answered internal: {reply.error.message}"
                    )
                if code in RETRY_CODES:
                    self.tally.transient[code] += 1
                elif (
                    waits_for_events
                    and code in PROPAGATION_CODES
                    and time.monotonic() - began < self.propagation_deadline
                ):
                    self.tally.transient[f"waiting:{code}"] += 1
                else:
                    return reply
            if time.monotonic() - began > self.command_deadline:
                self.tally.unresolved.append(
                    f"{service}.{name} {payload.get('command_id')}: no definite reply in "
                    f"{self.command_deadline:.0f} s"
                )
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 1.0)

    async def command(
        self,
        service: str,
        name: str,
        site: str,
        fields: dict[str, Any],
        *,
        waits_for_events: bool = False,
    ) -> Sent | None:
        """Send a new command (a fresh ``command_id``); the ledger records what ``ok`` promises."""
        payload = {"command_id": str(uuid.uuid4()), **fields}
        self.tally.sent += 1
        reply = await self._definite(service, name, site, payload, waits_for_events)
        if reply is None:
            return None
        if not reply.ok:
            assert reply.error is not None
            self.tally.refused[f"{service}.{name}:{reply.error.code}"] += 1
            return Sent(service, name, site, payload, reply)
        self.tally.acknowledged += 1
        self.tally.expected.add(effects_of(service, name, payload, reply.result or {}))
        return Sent(service, name, site, payload, reply)

    async def repeat(self, earlier: Sent) -> None:
        """Send an acknowledged command again, same id and payload: it must change nothing."""
        self.tally.sent += 1
        self.tally.repeats += 1
        reply = await self._definite(
            earlier.service, earlier.name, earlier.site, earlier.payload, False
        )
        if reply is None:
            return
        if reply != earlier.reply:
            self.tally.violations.append(
                f"repeat of {earlier.service}.{earlier.name} {earlier.payload['command_id']} "
                f"answered {reply.model_dump(exclude_none=True)} instead of the first reply "
                f"{earlier.reply.model_dump(exclude_none=True)}"
            )


class Client:
    """One member of staff at one site, running the agency's flows one after another."""

    def __init__(self, sender: Sender, site: str, rng: random.Random, think: float) -> None:
        self.sender = sender
        self.site = site
        self.rng = rng
        self.think = think
        self.history: list[Sent] = []
        self.stop = asyncio.Event()

    async def _send(
        self, service: str, name: str, fields: dict[str, Any], *, waits_for_events: bool = False
    ) -> dict[str, Any] | None:
        if self.history and self.rng.random() < 0.05:
            await self.sender.repeat(self.rng.choice(self.history))
        if self.think:
            await asyncio.sleep(self.rng.uniform(0, self.think))
        sent = await self.sender.command(
            service, name, self.site, fields, waits_for_events=waits_for_events
        )
        if sent is None or not sent.reply.ok:
            return None
        self.history.append(sent)
        return sent.reply.result

    def _more(self) -> bool:
        return not self.stop.is_set()

    async def person(self, roles: list[str] | None = None, consent: bool = True) -> str | None:
        tag = uuid.uuid4().hex[:10]
        result = await self._send(
            "intake",
            "register_person",
            {
                "preferred_name": f"Campaign {tag}",
                "roles": roles or ["person_in_recovery"],
                "sex": self.rng.choice(["female", "male", "undisclosed"]),
                "birth_year": self.rng.randint(1950, 2005),
                "register_anyway": True,
            },
        )
        if result is None:
            return None
        person_id = str(result["person_id"])
        if consent and self._more():
            await self._send(
                "intake",
                "record_consent",
                {"person_id": person_id, "purpose": "service", "given": True},
            )
        return person_id

    async def intake_flow(self) -> None:
        person_id = await self.person()
        if person_id is None or not self._more():
            return
        referral = await self._send(
            "intake",
            "receive_referral",
            {
                "source": self.rng.choice(["hospital", "ngo", "family", "self"]),
                "reason": "campaign referral",
                "person_id": person_id,
            },
        )
        if referral is None or not self._more():
            return
        await self._send(
            "intake",
            "decide_referral",
            {"referral_id": referral["referral_id"], "decision": "accepted", "reason": "fits"},
        )
        case = await self._send(
            "intake",
            "open_case",
            {
                "person_id": person_id,
                "worker_id": "w-campaign",
                "referral_id": referral["referral_id"],
            },
        )
        if case is None:
            return
        for _ in range(self.rng.randint(1, 3)):
            if not self._more():
                return
            await self._send(
                "intake",
                "log_contact",
                {
                    "case_id": case["case_id"],
                    "mode": self.rng.choice(["phone", "home_visit", "office_interview"]),
                    "minutes": self.rng.randint(10, 90),
                },
            )
        if not self._more():
            return
        await self._send(
            "intake",
            "record_assessment",
            {
                "person_id": person_id,
                "instrument": "brs",
                "timepoint": "baseline",
                "answers": [self.rng.randint(1, 5) for _ in range(6)],
            },
        )
        if self._more() and self.rng.random() < 0.5:
            await self._send(
                "intake",
                "close_case",
                {
                    "case_id": case["case_id"],
                    "reason": self.rng.choice(["goals_achieved", "moved_away"]),
                },
            )

    async def groups_flow(self) -> None:
        tag = uuid.uuid4().hex[:10]
        programme = await self._send(
            "groups",
            "create_programme",
            {
                "title": f"Campaign group {tag}",
                "type": self.rng.choice(["support_group", "interest_class", "outing"]),
                "capacity": 2,
                "facilitators": [f"fac-{tag}"],
                "venue": f"Room {tag}",
                "tags": ["campaign"],
                "schedule": {
                    "first_date": (today() - timedelta(days=1)).isoformat(),
                    "start_time": "10:00",
                    "duration_min": 90,
                    "repeat": "daily",
                    "count": 2,
                },
            },
        )
        if programme is None:
            return
        enrolled: list[tuple[str, str]] = []
        for _ in range(3):  # capacity 2: the third waits, and takes a place freed by a withdrawal
            if not self._more():
                return
            person_id = await self.person(consent=False)
            if person_id is None:
                continue
            enrolment = await self._send(
                "groups",
                "enrol",
                {"programme_id": programme["programme_id"], "person_id": person_id},
                waits_for_events=True,
            )
            if enrolment is not None and enrolment["status"] == "enrolled":
                enrolled.append((person_id, enrolment["enrollment_id"]))
        if not enrolled or not self._more():
            return
        await self._send(
            "groups",
            "record_attendance",
            {
                "session_id": programme["session_ids"][0],
                "present": [p for p, _ in enrolled[:1]],
                "absent": [p for p, _ in enrolled[1:]],
                "walk_ins": self.rng.randint(0, 3),
            },
        )
        if self._more():
            await self._send("groups", "withdraw", {"enrollment_id": enrolled[-1][1]})

    async def volunteers_flow(self) -> None:
        peer_person = await self.person(roles=["family_carer"], consent=False)
        if peer_person is None or not self._more():
            return
        volunteer = await self._send(
            "volunteers",
            "register_volunteer",
            {"person_id": peer_person, "teams": ["peer_supporters"], "skills": ["listening"]},
            waits_for_events=True,
        )
        if volunteer is None or not self._more():
            return
        volunteer_id = volunteer["volunteer_id"]
        await self._send(
            "volunteers",
            "record_training",
            {
                "volunteer_id": volunteer_id,
                "course": "peer_support_foundation",
                "hours": 6,
                "completed_on": today().isoformat(),
            },
        )
        for _ in range(self.rng.randint(1, 2)):
            if not self._more():
                return
            await self._send(
                "volunteers",
                "log_hours",
                {"volunteer_id": volunteer_id, "minutes": self.rng.randint(30, 240)},
            )
        if not self._more():
            return
        person_id = await self.person()
        if person_id is None or not self._more():
            return
        match = await self._send(
            "volunteers",
            "start_peer_match",
            {"peer_volunteer_id": volunteer_id, "person_id": person_id},
            waits_for_events=True,
        )
        if match is None:
            return
        for _ in range(self.rng.randint(1, 2)):
            if not self._more():
                return
            await self._send(
                "volunteers",
                "log_peer_contact",
                {
                    "match_id": match["match_id"],
                    "minutes": self.rng.randint(15, 60),
                    "mode": "phone",
                },
            )

    async def run(self) -> None:
        flows = (self.intake_flow, self.groups_flow, self.volunteers_flow)
        while self._more():
            await self.rng.choices(flows, weights=(45, 25, 30))[0]()


async def run_load(
    nc: NatsClient,
    tally: Tally,
    *,
    clients: int,
    seconds: float,
    seed: int,
    command_deadline: float,
    propagation_deadline: float,
    think: float = 0.05,
    during: Any = None,
) -> None:
    """Run ``clients`` concurrent clients for ``seconds``, with ``during()`` alongside (a fault).

    Clients stop starting commands after ``seconds`` (or after the fault, if later) and finish
    the one in hand, each within ``command_deadline``.
    """
    sender = Sender(
        nc, tally, command_deadline=command_deadline, propagation_deadline=propagation_deadline
    )
    pool = [
        Client(sender, SITES[i % len(SITES)], random.Random(seed * 1000 + i), think)
        for i in range(clients)
    ]
    tasks = [asyncio.create_task(client.run()) for client in pool]
    try:
        waits = [asyncio.sleep(seconds)]
        if during is not None:
            waits.append(during())
        await asyncio.gather(*waits)
        for client in pool:
            client.stop.set()
        done, pending = await asyncio.wait(tasks, timeout=command_deadline * 2 + 30)
        for task in done:
            if task.exception() is not None:
                tally.violations.append(f"client failed: {task.exception()!r}")
        if pending:
            tally.unresolved.append(f"{len(pending)} clients did not finish in time")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
