"""``carenet demo [--month 2026-10]``: a realistic month for the demo organisation, loaded
through the services' own commands, signed as the staff who would send them.

The Likang Family Resource Centre takes in families (a carer and the person she cares for)
referred by hospitals, residents' committees and the families themselves; its weekly family
support group and talks run at the centre and a street programme; the clubhouse holds its
weekday house meeting; the integrated community mental-health centre opens cases from hospital
referrals; the family volunteer team co-facilitates the support group and the P.E.E.R. peer
supporters keep in touch with the people matched to them.

Each command's ``command_id`` is derived from the month and a stable key of what it does
(uuid5), so running the demo again sends the same commands: every service answers each with
its first reply (the same ids) and applies nothing twice.

It then makes console accounts for the demo's staff (sw.chan, sw.lee, mgr.wong, vc.lau, sw.ho,
sw.ng), an analyst (an.li, every site) and the operator (ops), those not there yet, with the
password given on stdin (``--password-stdin``) or else one it makes and prints once.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from shared.kit.contracts.replies import Reply

# Fixed forever: the command ids of every demo ever loaded derive from it.
NAMESPACE = UUID("0d1e7c55-2b8a-4f3e-9a61-6c4d2e8b9f17")
# Services learn of each other's people, cases and sessions through events: a command that
# names one not heard of yet is refused and changes nothing, so it is asked again.
NOT_YET = frozenset({"not_found", "not_allowed", "consent_required", "unavailable"})
PATIENCE_SECONDS = 30.0
SIZES = {"small": 4, "full": 14}
"""Families at the centre; the other sites scale with it."""

Send = Callable[[str, str, str, str, str, dict[str, Any]], Awaitable[Reply]]
"""``send(token, kind, site, service, name, body)``: one command's or query's reply."""
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class Staff:
    sub: str
    roles: tuple[str, ...]
    sites: tuple[str, ...]
    name: str


SW_CHAN = Staff("sw.chan", ("social_worker",), ("likang",), "陳姑娘 Miss Chan")
SW_LEE = Staff("sw.lee", ("social_worker",), ("likang",), "李先生 Mr Lee")
MANAGER = Staff("mgr.wong", ("centre_manager",), ("likang",), "黃主任 Ms Wong")
SW_HO = Staff("sw.ho", ("social_worker",), ("clubhouse",), "何姑娘 Miss Ho")
SW_NG = Staff("sw.ng", ("social_worker",), ("icmhc",), "吳先生 Mr Ng")
COORDINATOR = Staff("vc.lau", ("volunteer_coordinator",), ("likang",), "劉姑娘 Miss Lau")


ANALYST = Staff("an.li", ("analyst",), ("*",), "李小姐 Ms Li")
OPERATOR = Staff("ops", ("operator",), ("*",), "Operator")
CONSOLE_STAFF = (SW_CHAN, SW_LEE, MANAGER, COORDINATOR, SW_HO, SW_NG, ANALYST, OPERATOR)
"""Who gets a console account (the demo's staff, an analyst and the operator)."""


def peer(volunteer_id: str) -> Staff:
    """A peer supporter signs as their volunteer id (the access table's ``sub``)."""
    return Staff(volunteer_id, ("peer_supporter",), ("likang",), volunteer_id)


SURNAMES = [
    ("陳", "Chan"),
    ("黃", "Wong"),
    ("李", "Lee"),
    ("張", "Cheung"),
    ("劉", "Lau"),
    ("何", "Ho"),
    ("吳", "Ng"),
    ("梁", "Leung"),
    ("林", "Lam"),
    ("鄧", "Tang"),
    ("葉", "Yip"),
    ("郭", "Kwok"),
    ("曾", "Tsang"),
    ("馮", "Fung"),
    ("麥", "Mak"),
    ("謝", "Tse"),
]
CARER_NAMES = ["美玲", "秀英", "麗華", "淑芬", "玉蓮", "桂芳", "惠珍", "月娥"]
YOUNG_NAMES = [("志明", "Ah Ming"), ("嘉欣", "Kayan"), ("俊傑", "Kit"), ("詠詩", "Wing")]
YOUNG_NAMES += [("家豪", "Ho Ho"), ("曉彤", "Tung"), ("偉倫", "Lun"), ("子晴", "Ching")]
SOURCES = ["hospital", "residents_committee", "self", "family", "hospital", "ngo"]
RELATIONSHIPS = ["parent", "parent", "spouse", "parent", "sibling"]
NOTES = [
    "First home visit: the family keeps a tidy flat; mother worried about sleep and money.",
    "Talked about the hospital stay and what helped after discharge.",
    "Agreed to try the Tuesday family support group.",
]
GOALS = [
    "Sleep through four nights a week",
    "Take the bus to the clubhouse on his own",
    "Keep a weekly routine with one outing",
    "Learn two ways to calm down when stressed",
]


@dataclass
class Loaded:
    """How many of each command the demo sent and the services accepted."""

    counts: Counter[str] = field(default_factory=Counter)

    def report(self, month: str) -> str:
        c = self.counts
        lines = [
            f"carenet demo: {month} loaded for the demo organisation:",
            f"  {c['register_person']} people, {c['link_carer']} carer links, "
            f"{c['record_consent']} consents",
            f"  {c['receive_referral']} referrals ({c['screen_referral']} screened, "
            f"{c['decide_referral']} decided), {c['open_case']} cases, "
            f"{c['add_case_note']} case notes, {c['set_goal']} goals, "
            f"{c['log_contact']} contacts",
            f"  {c['record_assessment']} assessments (baseline and post)",
            f"  {c['create_programme']} programmes, {c['enrol']} enrolments, "
            f"{c['record_attendance']} sessions' attendance",
            f"  {c['register_volunteer']} volunteers, {c['record_training']} trainings, "
            f"{c['request_volunteers']} duty requests, {c['confirm_assignment']} confirmed, "
            f"{c['log_hours']} hours entries",
            f"  {c['start_peer_match']} peer matches, {c['log_peer_contact']} peer contacts",
        ]
        lines.append(
            "Running it again changes nothing. Open the console address in .carenet/up.json "
            "to see it."
        )
        return "\n".join(lines)


class DemoError(Exception):
    """A command the demo needs was refused: what and why."""


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM``."""
    first = datetime.strptime(month, "%Y-%m").date()
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def last_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def command_id(month: str, key: str) -> UUID:
    """The same id for the same month and step in every run."""
    return uuid5(NAMESPACE, f"carenet.demo/{month}/{key}")


class Demo:
    """Sends the month's commands in order; ``send`` is the bus (or, for counting the steps
    before the progress bar starts, a stand-in that answers made-up ids)."""

    def __init__(
        self,
        send: Send,
        tokens: Callable[[Staff], str],
        month: str,
        families: int,
        progress: Callable[[], None] | None = None,
    ) -> None:
        self.send = send
        self.tokens = tokens
        self.month = month
        self.first, self.last = month_days(month)
        self.families = families
        self.progress = progress
        self.loaded = Loaded()

    def day(self, n: int) -> date:
        """The month's ``n``th day (1-based), kept within the month."""
        return self.first + timedelta(days=min(n, self.last.day) - 1)

    async def cmd(
        self, who: Staff, site: str, service: str, name: str, key: str, **body: Any
    ) -> dict[str, Any]:
        payload = {"command_id": str(command_id(self.month, key)), **body}
        payload = {k: v.isoformat() if isinstance(v, date) else v for k, v in payload.items()}
        token = self.tokens(who)
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            reply = await self.send(token, "cmd", site, service, name, payload)
            if reply.ok:
                break
            assert reply.error is not None
            if reply.error.code not in NOT_YET or time.monotonic() > deadline:
                raise DemoError(
                    f"{service} {name} ({key}) at {site} as {who.sub}: {reply.error.code}: "
                    f"{reply.error.message}"
                )
            await asyncio.sleep(0.1)
        self.loaded.counts[name] += 1
        if self.progress is not None:
            self.progress()
        return reply.result or {}

    async def ask(
        self, who: Staff, site: str, service: str, name: str, **body: Any
    ) -> dict[str, Any]:
        reply = await self.send(self.tokens(who), "qry", site, service, name, body)
        if not reply.ok:
            assert reply.error is not None
            raise DemoError(
                f"{service} {name} at {site}: {reply.error.code}: {reply.error.message}"
            )
        return reply.result or {}

    async def run(self) -> Loaded:
        families = [await self.family(i) for i in range(self.families)]
        clubhouse = await self.clubhouse()
        await self.icmhc()
        group = await self.family_support_group(families)
        await self.talks(families, clubhouse)
        await self.volunteers(families, group)
        return self.loaded

    # --- intake -------------------------------------------------------------------------

    async def person(self, who: Staff, site: str, key: str, on: date, **fields: Any) -> str:
        # Generated people are known to be distinct: a shared surname and birth year is not
        # the same person here.
        result = await self.cmd(
            who,
            site,
            "intake",
            "register_person",
            f"{key}/register",
            on=on,
            register_anyway=True,
            **fields,
        )
        return str(result["person_id"])

    async def consents(self, who: Staff, site: str, key: str, person: str, on: date) -> None:
        for purpose in ("service", "outcome_data"):
            await self.cmd(
                who,
                site,
                "intake",
                "record_consent",
                f"{key}/consent/{purpose}",
                person_id=person,
                purpose=purpose,
                given=True,
                on=on,
            )

    async def family(self, i: int) -> dict[str, Any]:
        """A carer and the person in recovery she cares for, referred to the centre (every
        fifth family to the Nanyuan street programme), taken on and supported."""
        key = f"family/{i}"
        site = "nanyuan" if i % 5 == 4 else "likang"
        worker = SW_CHAN if i % 2 == 0 else SW_LEE
        zh, en = SURNAMES[i % len(SURNAMES)]
        given, nickname = YOUNG_NAMES[i % len(YOUNG_NAMES)]
        start = 1 + i % 6
        carer = await self.person(
            worker,
            site,
            f"{key}/carer",
            self.day(start),
            preferred_name=f"{zh}太",
            legal_name=f"{zh}{CARER_NAMES[i % len(CARER_NAMES)]}",
            roles=["family_carer"],
            sex="female",
            birth_year=1954 + (i * 3) % 20,
            phone=f"+852 9{(1000000 + i * 7919) % 10000000:07d}",
            language="yue",
        )
        cared_for = await self.person(
            worker,
            site,
            f"{key}/cared_for",
            self.day(start),
            preferred_name=nickname,
            legal_name=f"{zh}{given}",
            roles=["person_in_recovery"],
            sex="male" if i % 2 == 0 else "female",
            birth_year=1984 + (i * 5) % 18,
            language="yue",
        )
        await self.cmd(
            worker,
            site,
            "intake",
            "link_carer",
            f"{key}/link",
            carer_id=carer,
            cared_for_id=cared_for,
            relationship=RELATIONSHIPS[i % len(RELATIONSHIPS)],
            on=self.day(start),
        )
        referral = await self.cmd(
            worker,
            site,
            "intake",
            "receive_referral",
            f"{key}/referral",
            source="street_office" if site == "nanyuan" else SOURCES[i % len(SOURCES)],
            reason=f"{en} family: son or daughter home after hospital, carer under strain",
            urgency="urgent" if i % 5 == 2 else "routine",
            person_id=cared_for,
            on=self.day(start),
        )
        referral_id = str(referral["referral_id"])
        await self.cmd(
            worker,
            site,
            "intake",
            "screen_referral",
            f"{key}/screening",
            referral_id=referral_id,
            answers=[0, 1 + i % 2, i % 3, i % 2, 2, 1, i % 2],
            on=self.day(start),
        )
        decision = "waitlisted" if i % 7 == 6 else "accepted"
        await self.cmd(
            MANAGER,
            site,
            "intake",
            "decide_referral",
            f"{key}/decision",
            referral_id=referral_id,
            decision=decision,
            reason="needs ongoing support" if decision == "accepted" else "no worker free yet",
            on=self.day(start + 1),
        )
        family = {"i": i, "site": site, "carer": carer, "cared_for": cared_for, "case": None}
        await self.consents(worker, site, f"{key}/carer", carer, self.day(start + 1))
        await self.assessment(worker, site, f"{key}/carer/brs", carer, "brs", i, start + 2)
        if i % 3 == 0:  # a carer under strain has a case of her own
            await self.cmd(
                worker,
                site,
                "intake",
                "open_case",
                f"{key}/carer/case",
                person_id=carer,
                worker_id=worker.sub,
                on=self.day(start + 1),
            )
        if decision != "accepted":
            return family
        await self.consents(worker, site, f"{key}/cared_for", cared_for, self.day(start + 1))
        case = await self.cmd(
            worker,
            site,
            "intake",
            "open_case",
            f"{key}/case",
            person_id=cared_for,
            worker_id=worker.sub,
            referral_id=referral_id,
            on=self.day(start + 1),
        )
        case_id = str(case["case_id"])
        family["case"] = case_id
        for n, note in enumerate(NOTES[: 1 + i % len(NOTES)]):
            when = self.day(start + 2 + 7 * n)
            await self.cmd(
                worker,
                site,
                "intake",
                "add_case_note",
                f"{key}/note/{n}",
                case_id=case_id,
                text=note,
                on=when,
            )
        goal = await self.cmd(
            worker,
            site,
            "intake",
            "set_goal",
            f"{key}/goal",
            case_id=case_id,
            text=GOALS[i % len(GOALS)],
            on=self.day(start + 2),
        )
        for week, mode, minutes in ((0, "home_visit", 60), (1, "phone", 20), (2, "phone", 15)):
            when = self.day(start + 3 + 7 * week)
            await self.cmd(
                worker,
                site,
                "intake",
                "log_contact",
                f"{key}/contact/{week}",
                case_id=case_id,
                mode=mode,
                minutes=minutes,
                on=when,
            )
        review = self.day(start + 16)
        await self.cmd(
            worker,
            site,
            "intake",
            "review_goal",
            f"{key}/goal/review",
            goal_id=str(goal["goal_id"]),
            progress=["on_track", "some_progress", "setback"][i % 3],
            note="Talked it through at the home visit",
            on=review,
        )
        await self.assessment(worker, site, f"{key}/cared_for/k6", cared_for, "k6", i, start + 2)
        return family

    async def assessment(
        self, who: Staff, site: str, key: str, person: str, instrument: str, i: int, start: int
    ) -> None:
        """A baseline at the start and, when the month has run its course, a post score a
        little better for most and worse for some."""
        if instrument == "brs":  # 1..5, items 2, 4 and 6 reversed: higher is more resilient
            before = [3, 3 + i % 2, 2 + i % 2, 3, 3, 3]
            after = [4, 2, 3 + i % 2, 2, 4, 3] if i % 4 else [2, 4, 2, 3, 3, 3]
        else:  # k6: 0..4, lower is less distress
            before = [2, 3, 2, 2 + i % 2, 2, 1]
            after = [1, 1, 1, 2, 1, 1] if i % 4 else [3, 3, 2, 2, 2, 2]
        for timepoint, answers, when in (
            ("baseline", before, self.day(start)),
            ("post", after, self.day(27)),
        ):
            await self.cmd(
                who,
                site,
                "intake",
                "record_assessment",
                f"{key}/{timepoint}",
                person_id=person,
                instrument=instrument,
                timepoint=timepoint,
                answers=answers,
                on=when,
            )

    async def clubhouse(self) -> list[str]:
        """Clubhouse members (persons in recovery) with cases, for the house meeting."""
        members = []
        for m in range(max(4, self.families // 2 + 2)):
            key = f"clubhouse/{m}"
            zh, en = SURNAMES[(m + 5) % len(SURNAMES)]
            given, nickname = YOUNG_NAMES[(m + 3) % len(YOUNG_NAMES)]
            person = await self.person(
                SW_HO,
                "clubhouse",
                key,
                self.day(1),
                preferred_name=f"{nickname} {en}",
                legal_name=f"{zh}{given}",
                roles=["person_in_recovery"],
                sex="male" if m % 3 else "female",
                birth_year=1970 + (m * 7) % 25,
            )
            await self.consents(SW_HO, "clubhouse", key, person, self.day(1))
            await self.cmd(
                SW_HO,
                "clubhouse",
                "intake",
                "open_case",
                f"{key}/case",
                person_id=person,
                worker_id=SW_HO.sub,
                on=self.day(1),
            )
            members.append(person)
        return members

    async def icmhc(self) -> None:
        """The integrated centre: hospital referrals, cases and a K10 at intake."""
        for n in range(max(2, self.families // 3)):
            key = f"icmhc/{n}"
            zh, en = SURNAMES[(n + 9) % len(SURNAMES)]
            when = self.day(3 + 4 * n)
            person = await self.person(
                SW_NG,
                "icmhc",
                key,
                when,
                preferred_name=f"{en} {zh}生",
                roles=["person_in_recovery"],
                sex="male",
                birth_year=1965 + n * 4,
            )
            referral = await self.cmd(
                SW_NG,
                "icmhc",
                "intake",
                "receive_referral",
                f"{key}/referral",
                source="hospital",
                reason="discharged, needs community follow-up",
                urgency="urgent" if n == 0 else "routine",
                person_id=person,
                on=when,
            )
            await self.cmd(
                SW_NG,
                "icmhc",
                "intake",
                "decide_referral",
                f"{key}/decision",
                referral_id=str(referral["referral_id"]),
                decision="accepted",
                reason="within the catchment",
                on=when,
            )
            await self.consents(SW_NG, "icmhc", key, person, when)
            case = await self.cmd(
                SW_NG,
                "icmhc",
                "intake",
                "open_case",
                f"{key}/case",
                person_id=person,
                worker_id=SW_NG.sub,
                referral_id=str(referral["referral_id"]),
                on=when,
            )
            await self.cmd(
                SW_NG,
                "icmhc",
                "intake",
                "record_assessment",
                f"{key}/k10",
                person_id=person,
                instrument="k10",
                timepoint="baseline",
                answers=[2, 3, 2, 2, 3, 2, 2, 2, 1, 2],
                on=when,
            )
            await self.cmd(
                SW_NG,
                "icmhc",
                "intake",
                "add_case_note",
                f"{key}/note",
                case_id=str(case["case_id"]),
                text="Met on the ward before discharge",
                on=when,
            )

    # --- groups -------------------------------------------------------------------------

    def weekday_on_or_after(self, weekday: int) -> date:
        return self.first + timedelta(days=(weekday - self.first.weekday()) % 7)

    async def programme(self, who: Staff, site: str, key: str, **fields: Any) -> dict[str, Any]:
        schedule = fields.pop("schedule")
        schedule["first_date"] = schedule["first_date"].isoformat()
        result = await self.cmd(
            who,
            site,
            "groups",
            "create_programme",
            f"{key}/programme",
            schedule=schedule,
            **fields,
        )
        first = date.fromisoformat(schedule["first_date"])
        sessions = [str(s) for s in result["session_ids"]]
        if schedule["repeat"] == "weekdays":
            days = (first + timedelta(n) for n in range(7 * len(sessions)))
            dates = [d for d in days if d.weekday() < 5][: len(sessions)]
        else:  # weekly, or once
            step = 7 if schedule["repeat"] == "weekly" else 0
            dates = [first + timedelta(days=step * n) for n in range(len(sessions))]
        return {
            "programme_id": str(result["programme_id"]),
            "sessions": list(zip(sessions, dates, strict=True)),
        }

    async def family_support_group(self, families: list[dict[str, Any]]) -> dict[str, Any]:
        """The Tuesday afternoon group for carers, at the centre, every week of the month."""
        first = self.weekday_on_or_after(1)
        count = len(range(first.day, self.last.day + 1, 7))
        group = await self.programme(
            SW_CHAN,
            "likang",
            "family_support_group",
            title="家屬支援小組 Family support group",
            type="support_group",
            target_roles=["family_carer"],
            capacity=10,
            tags=["carer_support", "trauma_informed"],
            facilitators=[SW_CHAN.sub],
            venue="Activity room 1",
            schedule={
                "first_date": first,
                "start_time": "14:30",
                "duration_min": 90,
                "repeat": "weekly",
                "count": count,
            },
        )
        enrolled = []
        for family in families:
            result = await self.cmd(
                SW_CHAN,
                "likang",
                "groups",
                "enrol",
                f"family_support_group/enrol/{family['i']}",
                programme_id=group["programme_id"],
                person_id=family["carer"],
                on=self.first,
            )
            if result.get("status") == "enrolled":
                enrolled.append(family)
        for week, (session, _) in enumerate(group["sessions"]):
            present = [f["carer"] for f in enrolled if (f["i"] + week) % 4]
            absent = [f["carer"] for f in enrolled if not (f["i"] + week) % 4]
            await self.cmd(
                SW_CHAN,
                "likang",
                "groups",
                "record_attendance",
                f"family_support_group/attendance/{week}",
                session_id=session,
                present=present,
                absent=absent,
                walk_ins=week % 2,
            )
        return group

    async def talks(self, families: list[dict[str, Any]], clubhouse: list[str]) -> None:
        """Talks open to all: registered people drop in, others walk in; and the clubhouse's
        weekday house meeting."""
        talks = [
            ("likang", "talk/recovery", "認識復元 Understanding recovery", 3, "Hall", 23, SW_LEE),
            (
                "nanyuan",
                "talk/sleep",
                "壓力與睡眠 Stress and sleep",
                10,
                "Street office",
                9,
                SW_CHAN,
            ),
        ]
        for site, key, title, weekday, venue, walk_ins, who in talks:
            when = self.weekday_on_or_after(weekday) + timedelta(days=7)
            talk = await self.programme(
                who,
                site,
                key,
                title=title,
                type="psychoeducation_talk",
                capacity=0,
                tags=["psychoeducation"],
                facilitators=[who.sub],
                venue=venue,
                schedule={
                    "first_date": when,
                    "start_time": "19:00",
                    "duration_min": 90,
                    "repeat": "once",
                    "count": 1,
                },
            )
            session, _ = talk["sessions"][0]
            dropped = [f["cared_for"] for f in families if f["site"] == site or f["i"] % 3 == 0][:6]
            await self.cmd(
                who,
                site,
                "groups",
                "record_attendance",
                f"{key}/attendance",
                session_id=session,
                dropped_in=dropped,
                walk_ins=walk_ins,
            )
        first = next(d for d in (self.first + timedelta(n) for n in range(7)) if d.weekday() < 5)
        weekdays = sum(1 for n in range(self.last.day) if (self.first + timedelta(n)).weekday() < 5)
        meeting = await self.programme(
            SW_HO,
            "clubhouse",
            "house_meeting",
            title="會所大會 House meeting",
            type="house_meeting",
            target_roles=["person_in_recovery"],
            capacity=30,
            facilitators=[SW_HO.sub],
            venue="Clubroom",
            schedule={
                "first_date": first,
                "start_time": "09:30",
                "duration_min": 30,
                "repeat": "weekdays",
                "count": weekdays,
            },
        )
        for m, member in enumerate(clubhouse):
            await self.cmd(
                SW_HO,
                "clubhouse",
                "groups",
                "enrol",
                f"house_meeting/enrol/{m}",
                programme_id=meeting["programme_id"],
                person_id=member,
                on=self.first,
            )
        for n, (session, _) in enumerate(meeting["sessions"]):
            present = [p for m, p in enumerate(clubhouse) if (m + n) % 5]
            absent = [p for m, p in enumerate(clubhouse) if not (m + n) % 5]
            await self.cmd(
                SW_HO,
                "clubhouse",
                "groups",
                "record_attendance",
                f"house_meeting/attendance/{n}",
                session_id=session,
                present=present,
                absent=absent,
                walk_ins=n % 3 // 2,
            )

    # --- volunteers ---------------------------------------------------------------------

    async def volunteers(self, families: list[dict[str, Any]], group: dict[str, Any]) -> None:
        """Carers in the family volunteer team co-facilitate the group; persons in recovery
        with a case become peer supporters matched with others."""
        team, peers = "family_volunteer_team", "peer_supporters"
        carers = families[: max(2, len(families) // 3)]
        helpers = []
        for f in carers:
            key = f"volunteer/{f['i']}"
            volunteer = await self.cmd(
                COORDINATOR,
                "likang",
                "volunteers",
                "register_volunteer",
                key,
                person_id=f["carer"],
                teams=[team],
                skills=["cantonese", "cooking"],
                languages=["yue"],
                on=self.first,
            )
            volunteer_id = str(volunteer["volunteer_id"])
            await self.cmd(
                COORDINATOR,
                "likang",
                "volunteers",
                "record_training",
                f"{key}/training",
                volunteer_id=volunteer_id,
                course="volunteer_induction",
                hours=6,
                completed_on=self.first,
            )
            await self.cmd(
                COORDINATOR,
                "likang",
                "volunteers",
                "set_availability",
                f"{key}/availability",
                volunteer_id=volunteer_id,
                slots=[{"weekday": 1, "start": "13:00", "end": "18:00"}],
            )
            helpers.append(volunteer_id)
        for week, (session, when) in enumerate(group["sessions"]):
            duty = await self.cmd(
                COORDINATOR,
                "likang",
                "volunteers",
                "request_volunteers",
                f"family_support_group/duty/{week}",
                session_id=session,
                role="co_facilitator",
                count=1,
                teams=[team],
            )
            if not duty.get("assignments"):
                continue
            found = await self.ask(
                COORDINATOR, "likang", "volunteers", "assignments", session_id=session
            )
            for a, standing in enumerate(found.get("assignments", [])):
                # Sent on every run: a repeat answers the first confirmation.
                await self.cmd(
                    COORDINATOR,
                    "likang",
                    "volunteers",
                    "confirm_assignment",
                    f"family_support_group/duty/{week}/{a}/confirm",
                    assignment_id=standing["assignment_id"],
                )
                await self.cmd(
                    COORDINATOR,
                    "likang",
                    "volunteers",
                    "log_hours",
                    f"family_support_group/duty/{week}/{a}/hours",
                    volunteer_id=standing["volunteer_id"],
                    assignment_id=standing["assignment_id"],
                    date=when,
                )
        for n, helper in enumerate(helpers):
            when = self.day(12 + n)
            await self.cmd(
                COORDINATOR,
                "likang",
                "volunteers",
                "log_hours",
                f"volunteer/{n}/calls",
                volunteer_id=helper,
                minutes=60 + 30 * (n % 2),
                date=when,
                activity="phone calls to new carers",
                team=team,
            )
        with_case = [f for f in families if f["case"] is not None]
        supporters, supported = with_case[:2], with_case[2:]
        for s, f in enumerate(supporters):
            key = f"peer/{f['i']}"
            volunteer = await self.cmd(
                COORDINATOR,
                "likang",
                "volunteers",
                "register_volunteer",
                key,
                person_id=f["cared_for"],
                teams=[peers],
                languages=["yue"],
                on=self.first,
            )
            volunteer_id = str(volunteer["volunteer_id"])
            await self.cmd(
                COORDINATOR,
                "likang",
                "volunteers",
                "record_training",
                f"{key}/training",
                volunteer_id=volunteer_id,
                course="peer_support_foundation",
                hours=12,
                completed_on=self.first,
            )
            for m, other in enumerate(supported[s::2][:2]):
                started = self.day(3 + m)
                match = await self.cmd(
                    COORDINATOR,
                    "likang",
                    "volunteers",
                    "start_peer_match",
                    f"{key}/match/{m}",
                    peer_volunteer_id=volunteer_id,
                    person_id=other["cared_for"],
                    on=started,
                )
                for week in range(4):
                    when = started + timedelta(days=1 + 7 * week)
                    if when > self.last:
                        continue
                    await self.cmd(
                        peer(volunteer_id),
                        "likang",
                        "volunteers",
                        "log_peer_contact",
                        f"{key}/match/{m}/contact/{week}",
                        match_id=str(match["match_id"]),
                        mode=["phone", "visit", "online", "phone"][week],
                        minutes=[20, 60, 30, 15][week],
                        date=when,
                    )
            when = self.day(20)
            await self.cmd(
                peer(volunteer_id),
                "likang",
                "volunteers",
                "log_hours",
                f"{key}/hours",
                volunteer_id=volunteer_id,
                minutes=120,
                date=when,
                team=peers,
                activity="peer support",
            )


async def _made_up(
    token: str, kind: str, site: str, service: str, name: str, body: dict[str, Any]
) -> Reply:
    """Answers shaped like the services' (ids made up), to count the steps before sending."""
    made_up = str(uuid5(NAMESPACE, f"{name}/{body.get('command_id')}/{sorted(body)}"))
    ids = ("person_id", "referral_id", "case_id", "goal_id", "programme_id", "volunteer_id")
    result: dict[str, Any] = {key: made_up for key in ids} | {"match_id": made_up}
    result["status"] = "enrolled"
    if name == "create_programme":
        result["session_ids"] = [made_up] * body["schedule"]["count"]
    elif name == "request_volunteers":
        result["assignments"] = [made_up] * body["count"]
    elif name == "assignments":
        duty = {"assignment_id": made_up, "volunteer_id": made_up, "status": "proposed"}
        result["assignments"] = [duty]
    return Reply.success(result)


def _today(config: Path) -> date:
    from shared.agency.sites import load_organisation

    return datetime.now(load_organisation(config).zone).date()


async def load(
    send: Send,
    tokens: Callable[[Staff], str],
    month: str,
    size: str = "full",
    progress: Progress | None = None,
) -> Loaded:
    """Load ``month`` through ``send``; the steps are counted first (nothing sent) so the
    progress bar knows its total."""
    families = SIZES[size]
    counted = await Demo(_made_up, tokens, month, families).run()
    total, done, started = sum(counted.counts.values()), 0, time.monotonic()

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, time.monotonic() - started)

    return await Demo(send, tokens, month, families, progress=tick).run()


async def console_accounts(
    database: str, password: str, site_codes: list[str]
) -> tuple[list[str], list[str]]:
    """The console accounts of ``CONSOLE_STAFF`` not there yet, all with ``password``,
    made with the console's own account code; (added, kept as they were)."""
    from services.console.accounts import new_account
    from services.console.cli import save_accounts

    accounts = [
        new_account(
            who.sub,
            password,
            roles=list(who.roles),
            sites=list(who.sites),
            site_codes=site_codes,
            display_name=who.name,
        )
        for who in CONSOLE_STAFF
    ]
    added = await save_accounts(database, accounts)
    names = [who.sub for who in CONSOLE_STAFF]
    return (
        [name for name, new in zip(names, added, strict=True) if new],
        [name for name, new in zip(names, added, strict=True) if not new],
    )


def accounts_report(
    added: list[str], kept: list[str], password: str | None, console: str | None
) -> str:
    """What the demo says of the console accounts; a generated ``password`` is shown here
    only, once."""
    where = console or "the console (its address is `console` in up.json)"
    lines = []
    if kept:
        lines.append(f"Console accounts already there, kept as they were: {', '.join(kept)}.")
    if added:
        lines.append(f"Console accounts added: {', '.join(added)}.")
        said = f"with password {password}" if password else "with the password you gave"
        lines.append(f"Sign in at {where} as {added[0]} {said}.")
    elif kept:
        lines.append(f"Sign in at {where} as {kept[0]} with the password you chose before.")
    return "\n".join(lines)


def _signer(key_path: Path) -> Callable[[Staff], str]:
    from shared.kit.identity.issuing import SigningKey

    key = SigningKey.load(key_path)
    made: dict[Staff, str] = {}

    def token(who: Staff) -> str:
        if who not in made:
            made[who] = key.token(
                who.sub, roles=who.roles, sites=who.sites, name=who.name, ttl_seconds=3600
            )
        return made[who]

    return token


async def _run(args: argparse.Namespace) -> int:
    from nats.errors import Error as NatsError

    from shared.agency.sites import DEMO_ORGANISATION, load_organisation
    from shared.cli.client import connect, console_url, database_url, nats_url
    from shared.cli.progress import progress_bar
    from shared.kit.bus.requests import request
    from shared.local.identity import key_file

    config = Path(os.environ.get("CARENET_CONFIG") or DEMO_ORGANISATION)
    today = _today(config)
    month = args.month or last_month(today)
    try:
        _, last = month_days(month)
    except ValueError:
        print(f"carenet demo: --month {month!r} is not YYYY-MM", file=sys.stderr)
        return 2
    if last >= today:
        # Services refuse business dates in the future: only a month that is over is loaded.
        print(f"carenet demo: {month} is not over yet; give a past month", file=sys.stderr)
        return 2
    data = Path(args.data or os.environ.get("CARENET_DATA") or ".carenet")
    given = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    if given is not None and len(given) < 8:
        print("carenet demo: the password has at least 8 characters", file=sys.stderr)
        return 2
    url = nats_url(str(data))
    if url is None:
        print(
            f"carenet demo: no {data / 'up.json'} and no NATS_URL: start `carenet up` "
            "(make up) first",
            file=sys.stderr,
        )
        return 2
    path = Path(args.key or os.environ.get("CARENET_SIGNING_KEY") or key_file(data))
    try:
        tokens = _signer(path)
    except (OSError, ValueError) as exc:
        print(
            f"carenet demo: no signing key at {path} ({type(exc).__name__}): the demo signs "
            "as the centre's staff with the key `carenet up` makes",
            file=sys.stderr,
        )
        return 2
    try:
        nc = await connect(url)
    except (OSError, NatsError, TimeoutError) as exc:
        print(
            f"carenet demo: cannot reach NATS ({type(exc).__name__}): is `carenet up` running?",
            file=sys.stderr,
        )
        return 2

    async def send(
        token: str, kind: str, site: str, service: str, name: str, body: dict[str, Any]
    ) -> Reply:
        return await request(nc, kind, site, service, name, body, token=token)

    def shown(done: int, total: int, seconds: float) -> None:
        progress_bar(done, total, seconds, unit="commands")

    try:
        loaded = await load(send, tokens, month, args.size, progress=shown)
    except DemoError as exc:
        print(
            f"\ncarenet demo: stopped: {exc}\nRunning it again is safe (nothing is applied twice).",
            file=sys.stderr,
        )
        return 1
    finally:
        sys.stderr.write("\n")
        with contextlib.suppress(Exception):
            await nc.close()
    print(loaded.report(month))
    database = database_url(str(data))
    if database is None:
        print(
            "carenet demo: no DATABASE_URL (nor up.json): no console accounts made",
            file=sys.stderr,
        )
        return 0
    password = given or secrets.token_urlsafe(12)
    codes = load_organisation(config).codes()
    added, kept = await console_accounts(database, password, codes)
    console = console_url(str(data))
    print(accounts_report(added, kept, None if given else password, console))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="load a realistic month for the demo organisation through the services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--month", default=None, help="YYYY-MM (default: last month)")
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help=f"families at the centre: {', '.join(f'{k} {v}' for k, v in SIZES.items())}",
    )
    parser.add_argument("--data", default=None, help="where `carenet up` keeps its data")
    parser.add_argument(
        "--key",
        default=None,
        help="the signing key (default: env CARENET_SIGNING_KEY, else the one `carenet up` "
        "made under --data)",
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="the console accounts' password, from stdin (default: one is made and printed)",
    )
    parser.set_defaults(handler=lambda args: asyncio.run(_run(args)))
