"""Two replicas of groups for one site share its commands, its consumer and its outbox relay,
do nothing twice, and lose nothing when one of them is killed in the middle of the load.

Real processes (``python -m services.<name>``): intake once, groups twice for ``likang``. The
first groups replica starts alone, so it leads the intake consumer and the outbox relay; the
second waits in standby for both and answers its share of the commands. The intake people
arrive while groups' commands run; the leader is killed with SIGKILL halfway through the
enrolments. Clients send ``unavailable`` again with the same ``command_id``, as the CLI says to.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client.parser import text_string_to_metric_families

from shared.kit.bus.requests import request
from shared.kit.contracts.replies import Reply
from shared.kit.observability.status import collect, table
from shared.local.devservers import free_port
from tests.conftest import ServiceProcess, eventually
from tests.identity import token_for

SITE = "likang"
PROGRAMMES = 8
CAPACITY = 20
ENROLLED_COHORT = 30
CHURN_COHORT = 30
WEEKS = 4
IN_FLIGHT = 24
REQUEST_TIMEOUT = 3.0
KILL_AFTER_ENROLMENTS = 80
ACK_WAIT = 2


def day(offset: int) -> date:
    return datetime.now(ZoneInfo("Asia/Hong_Kong")).date() + timedelta(days=offset)


class Replica:
    """One service process and its status port."""

    def __init__(self, make: Callable[..., ServiceProcess], service: str, **env: str) -> None:
        self.port = free_port()
        self.process = make(
            f"services.{service}",
            CARENET_HTTP_PORT=str(self.port),
            CARENET_SITES=SITE,
            CARENET_ACK_WAIT_SECONDS=str(ACK_WAIT),
            CARENET_LOG_LEVEL="WARNING",
            **env,
        )

    def start(self) -> Replica:
        self.process.start()
        return self

    def _get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        except (OSError, http.client.HTTPException):
            return 0, ""
        finally:
            conn.close()

    async def readiness(self) -> dict[str, Any] | None:
        status, body = await asyncio.to_thread(self._get, "/readyz")
        return json.loads(body) if status == 200 else None

    async def ready(self) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            popen = self.process.process
            assert popen is not None and popen.poll() is None, self.process.output()
            return await self.readiness()

        report: dict[str, Any] = await eventually(check, timeout=60, interval=0.2)
        return report

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        status, body = await asyncio.to_thread(self._get, "/metrics")
        assert status == 200
        total = 0.0
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total

    def kill(self) -> None:
        popen = self.process.process
        assert popen is not None
        popen.send_signal(signal.SIGKILL)
        popen.wait(10)


class Clerk:
    """Staff sending commands as the CLI would: ``unavailable`` is sent again, same id."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.token = token_for("sw-lee")
        self.slots = asyncio.Semaphore(IN_FLIGHT)
        self.sent: dict[str, str] = {}
        """command_id -> service, for every command that was answered ok."""
        self.repeats = 0

    async def ok(self, service: str, name: str, **fields: Any) -> dict[str, Any]:
        command_id = str(uuid.uuid4())
        payload = {"command_id": command_id, **fields}
        for _ in range(20):
            async with self.slots:
                reply: Reply = await request(
                    self.nc,
                    "cmd",
                    SITE,
                    service,
                    name,
                    payload,
                    timeout=REQUEST_TIMEOUT,
                    token=self.token,
                )
            if reply.ok:
                assert reply.result is not None
                assert command_id not in self.sent
                self.sent[command_id] = service
                return reply.result
            assert reply.error is not None
            assert reply.error.code == "unavailable", f"{name}: {reply.error}"
            self.repeats += 1
        raise AssertionError(f"{name} {command_id} still unavailable")


async def churn(clerk: Clerk, index: int) -> None:
    """Someone registered, given a case and the case closed again: intake events for groups."""
    person = (
        await clerk.ok(
            "intake", "register_person", preferred_name=f"Churn {index}", roles=["family_carer"]
        )
    )["person_id"]
    await clerk.ok("intake", "record_consent", person_id=person, purpose="service", given=True)
    case = await clerk.ok("intake", "open_case", person_id=person, worker_id="sw-lee")
    await clerk.ok("intake", "close_case", case_id=case["case_id"], reason="goals_achieved")


async def with_case(clerk: Clerk, index: int) -> str:
    person: str = (
        await clerk.ok(
            "intake", "register_person", preferred_name=f"Carer {index}", roles=["family_carer"]
        )
    )["person_id"]
    await clerk.ok("intake", "record_consent", person_id=person, purpose="service", given=True)
    await clerk.ok("intake", "open_case", person_id=person, worker_id="sw-lee")
    return person


def programme(index: int) -> dict[str, Any]:
    return {
        "title": f"Family support group {index}",
        "type": "support_group",
        "target_roles": ["family_carer"],
        "capacity": CAPACITY,
        "facilitators": [f"sw-{index}"],
        "venue": f"Activity room {index}",
        "schedule": {
            "first_date": day(-7 * WEEKS).isoformat(),
            "start_time": "14:30",
            "duration_min": 90,
            "repeat": "weekly",
            "count": WEEKS,
        },
    }


async def stored_ids(nc: NatsClient, stream: str) -> list[str]:
    """``Nats-Msg-Id`` of every message in ``stream``, through a consumer of our own."""
    js = nc.jetstream()
    last = (await js.stream_info(stream)).state.last_seq
    name = f"test_reader_{uuid.uuid4().hex[:8]}"
    await js.add_consumer(
        stream,
        ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            inactive_threshold=30,
        ),
    )
    reader = await js.pull_subscribe_bind(consumer=name, stream=stream)
    ids: list[str] = []
    seen = 0
    try:
        while seen < last:
            with contextlib.suppress(TimeoutError):
                for msg in await reader.fetch(500, timeout=2):
                    seen = max(seen, msg.metadata.sequence.stream)
                    ids.append((msg.headers or {})["Nats-Msg-Id"])
    finally:
        await reader.unsubscribe()
        await js.delete_consumer(stream, name)
    return ids


async def gather(*work: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*work))


async def test_two_replicas_share_the_work_and_a_kill_loses_and_doubles_nothing(
    service_process, nc, database_url
):
    began = time.monotonic()
    intake = Replica(service_process, "intake").start()
    first = Replica(service_process, "groups").start()
    await gather(intake.ready(), first.ready())
    second = Replica(service_process, "groups").start()
    await second.ready()
    clerk = Clerk(nc)

    # Alone at first, the first replica leads the consumer and the relay; the second stands by.
    assert (await first.readiness() or {})["outbox"]["relay"] == "leader"
    standby = await second.readiness()
    assert standby is not None and standby["outbox"]["relay"] == "standby"
    assert [c["leading"] for c in standby["consumers"]] == [False]
    # carenet status shows both instances of groups, and which of them stands by.
    instances = (
        await collect(
            [f"groups=http://127.0.0.1:{r.port}" for r in (first, second)], None, None, None
        )
    ).instances
    assert [(i.service, i.ready, i.sites, i.relay) for i in instances] == [
        ("groups", True, [SITE], "leader"),
        ("groups", True, [SITE], "standby"),
    ]
    lines = table(instances).splitlines()
    durable = f"INTAKE/groups_intake-events_{SITE}"
    assert [line.endswith("(standby)") for line in lines if durable in line] == [False, True]

    people = await gather(*(with_case(clerk, i) for i in range(ENROLLED_COHORT)))
    db = await asyncpg.connect(database_url, server_settings={"search_path": "groups"})
    try:

        async def all_known() -> bool:
            known = await db.fetchval(
                "SELECT count(*) FROM open_cases WHERE person_id = ANY($1::uuid[])", people
            )
            return bool(known == ENROLLED_COHORT)

        await eventually(all_known, timeout=30)
        created = await gather(
            *(clerk.ok("groups", "create_programme", **programme(i)) for i in range(PROGRAMMES))
        )

        # The leader's consumer is held up on the people the churn registers, so it has
        # intake events in hand, unacknowledged, when it is killed.
        holder = await asyncpg.connect(database_url, server_settings={"search_path": "groups"})
        await holder.execute("BEGIN; LOCK TABLE known_people IN EXCLUSIVE MODE")
        js = nc.jetstream()
        durable = f"groups_intake-events_{SITE}"

        async def events_in_hand() -> Any:
            info = await js.consumer_info("INTAKE", durable)
            return info if info.num_ack_pending else None

        churning = asyncio.gather(*(churn(clerk, i) for i in range(CHURN_COHORT)))
        await eventually(events_in_hand, timeout=20)
        enrolled: dict[str, list[str]] = {c["programme_id"]: [] for c in created}
        answered = 0
        killed: dict[str, float] = {}

        async def enrol(programme_id: str, person: str) -> None:
            nonlocal answered
            result = await clerk.ok("groups", "enrol", programme_id=programme_id, person_id=person)
            if result["status"] == "enrolled":
                enrolled[programme_id].append(person)
            answered += 1
            if answered == KILL_AFTER_ENROLMENTS:
                # What the leader did before it dies (its counters die with it).
                killed["commands"] = await first.metric(
                    "carenet_messages_total", kind="command", outcome="ok"
                )
                killed["events"] = await first.metric(
                    "carenet_messages_total", kind="event", outcome="handled"
                )
                killed["published"] = await first.metric("carenet_outbox_published_total")
                killed["second_commands"] = await second.metric(
                    "carenet_messages_total", kind="command", outcome="ok"
                )
                killed["second_published"] = await second.metric("carenet_outbox_published_total")
                killed["held"] = (await js.consumer_info("INTAKE", durable)).num_ack_pending
                await asyncio.to_thread(first.kill)
                await holder.execute("ROLLBACK")

        await gather(
            *(enrol(c["programme_id"], person) for person in people for c in created),
            *(
                clerk.ok(
                    "groups",
                    "schedule_session",
                    programme_id=c["programme_id"],
                    date=day(7 + i).isoformat(),
                    start_time="10:00",
                )
                for i, c in enumerate(created)
            ),
            churning,
        )
        assert killed, "the load ended before the kill"
        await holder.close()
        assert killed["held"] > 0
        assert clerk.repeats > 0  # commands the killed replica had in hand, sent again
        sessions_held = [
            (c["programme_id"], session_id) for c in created for session_id in c["session_ids"]
        ]
        await gather(
            *(
                clerk.ok(
                    "groups",
                    "record_attendance",
                    session_id=session_id,
                    present=enrolled[programme_id],
                    walk_ins=1,
                )
                for programme_id, session_id in sessions_held
            )
        )

        # Both replicas answered commands; the first led the relay, the second took over.
        assert killed["commands"] > 0 and killed["second_commands"] > 0
        assert killed["events"] > 0 and killed["published"] > 0
        assert killed["second_published"] == 0  # in standby while the first led

        async def took_over() -> bool:
            report = await second.readiness() or {}
            leading = [c["leading"] for c in report.get("consumers", [])]
            return report.get("outbox", {}).get("relay") == "leader" and leading == [True]

        await eventually(took_over, timeout=20)

        # Every command took effect once, counted in groups' own tables.
        enrolments = PROGRAMMES * ENROLLED_COHORT
        sessions = PROGRAMMES * (WEEKS + 1)
        assert await db.fetchval("SELECT count(*) FROM programmes") == PROGRAMMES
        assert await db.fetchval("SELECT count(*) FROM sessions") == sessions
        places = await db.fetch(
            """SELECT programme_id, count(*) FILTER (WHERE status = 'enrolled') AS enrolled,
                      count(*) FILTER (WHERE status = 'waitlisted') AS waiting
               FROM enrolments GROUP BY programme_id"""
        )
        assert {(r["enrolled"], r["waiting"]) for r in places} == {
            (CAPACITY, ENROLLED_COHORT - CAPACITY)
        }
        assert len(places) == PROGRAMMES
        revisions = await db.fetch(
            "SELECT attendance_revision, count(*) AS n FROM sessions GROUP BY 1"
        )
        assert {r["attendance_revision"]: r["n"] for r in revisions} == {
            1: len(sessions_held),  # recorded once each: a second run would make it 2
            0: PROGRAMMES,
        }
        assert await db.fetchval("SELECT count(*) FROM attendance") == len(sessions_held) * CAPACITY
        groups_commands = [i for i, s in clerk.sent.items() if s == "groups"]
        logged = await db.fetchval(
            "SELECT count(*) FROM command_log WHERE command_id = ANY($1::uuid[])", groups_commands
        )
        assert (
            logged == len(groups_commands) == await db.fetchval("SELECT count(*) FROM command_log")
        )
        assert len(groups_commands) == PROGRAMMES * 2 + enrolments + len(sessions_held)

        # The outbox went to the stream once each, whichever replica published it.
        events = PROGRAMMES + sessions + enrolments + 2 * len(sessions_held)

        async def relayed() -> bool:
            left = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            return bool(left == 0)

        await eventually(relayed, timeout=20)
        outbox = {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM outbox")}
        assert len(outbox) == events
        in_stream = await stored_ids(nc, "GROUPS")
        assert len(in_stream) == events
        assert [i for i, n in Counter(in_stream).items() if n > 1] == []
        assert set(in_stream) == outbox
        assert await second.metric("carenet_outbox_published_total") > 0

        # One durable for groups on INTAKE, shared; every intake event applied once, in order.
        assert [c.name for c in await js.consumers_info("INTAKE")] == [durable]
        intake_subjects = (await js.stream_info("INTAKE", subjects_filter=">")).state.subjects
        expected = sum(
            n
            for subject, n in (intake_subjects or {}).items()
            if subject.rsplit(".", 2)[-2:]
            in (
                ["person", "registered"],
                ["consent", "recorded"],  # groups keeps consents, for consent to share
                ["case", "opened"],
                ["case", "closed"],
            )
        )
        assert expected == ENROLLED_COHORT * 3 + CHURN_COHORT * 4

        async def applied() -> bool:
            rows = await db.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = 'groups_intake-events'"
            )
            info = await js.consumer_info("INTAKE", durable)
            return rows == expected and info.num_pending == 0 and info.num_ack_pending == 0

        await eventually(applied, timeout=20)
        assert await db.fetchval("SELECT count(*) FROM known_people") == (
            ENROLLED_COHORT + CHURN_COHORT
        )
        # A closed case applied before its opening would leave it open here.
        assert await db.fetchval("SELECT count(*) FROM open_cases") == ENROLLED_COHORT
        assert await second.metric("carenet_messages_total", kind="event", outcome="handled") > 0
        assert (await js.stream_info("DLQ")).state.messages == 0
    finally:
        await db.close()
    print(
        f"\nreplicas: {len(clerk.sent)} commands ({clerk.repeats} sent again after the kill), "
        f"first replica before the kill: {killed['commands']:.0f} commands, "
        f"{killed['events']:.0f} events, {killed['published']:.0f} published, "
        f"{killed['held']} intake events in hand at the kill; "
        f"{time.monotonic() - began:.1f} s"
    )
