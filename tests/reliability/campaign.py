"""The reliability campaign: scenarios under load and faults, and the books after each.

Each scenario runs against one ``Cluster`` (real processes), then waits, within a bound, until
reporting holds every effect the acknowledged commands promise and every consumer has nothing
pending, and reads the books. A scenario fails on any lost or doubled effect, a service that
exited on its own, a command with no definite reply within its bound (a hang), a reply not of
the contract's shape or ``internal``, or a repeat whose reply differs from the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats.errors

from shared.kit.bus.requests import AUTHORIZATION, CORRELATION_HEADER
from tests.identity import HEAD_OFFICE
from tests.reliability import fuzz as fuzzing
from tests.reliability import poison
from tests.reliability.harness import CONSUMED_STREAMS, SERVICES, CampaignError, Cluster
from tests.reliability.ledger import (
    KINDS,
    Books,
    Expectations,
    effects_of,
    read_books,
    unexplained_rows,
)
from tests.reliability.load import Sender, Tally, run_load, today

PROBE_SITE = "hq"
# A fault in one service shows in the events that service sends reporting; reporting, NATS and
# PostgreSQL carry all three.
PROBED_PATHS = {
    "intake": ("intake",),
    "groups": ("groups",),
    "volunteers": ("volunteers",),
    "reporting": ("intake", "groups", "volunteers"),
    "all": ("intake", "groups", "volunteers"),
}


@dataclass(frozen=True)
class Sizes:
    """How big a run is."""

    clients: int = 50
    load_seconds: float = 20.0
    fault_at: float = 5.0
    fault_seconds: float = 10.0
    settle_timeout: float = 180.0
    command_deadline: float = 120.0
    propagation_deadline: float = 60.0
    fuzz_examples: int = 200
    fuzz_timeout: float = 10.0
    fuzz_concurrency: int = 16
    poison_rounds: int = 10
    ready_timeout: float = 120.0
    think: float = 0.05
    """Up to this many seconds between a client's sends (half on average)."""
    ack_wait: float = 10.0
    """CARENET_ACK_WAIT_SECONDS of the services: how long a killed consumer's events wait."""


FULL = Sizes(clients=60, load_seconds=45.0, fault_at=10.0, fuzz_examples=200, poison_rounds=34)
CI = Sizes(
    clients=50,
    load_seconds=5.0,
    fault_at=2.0,
    fault_seconds=5.0,
    think=0.25,
    ack_wait=10.0,
    settle_timeout=60.0,
    command_deadline=60.0,
    propagation_deadline=45.0,
    fuzz_examples=10,
    fuzz_timeout=5.0,
    fuzz_concurrency=48,
    poison_rounds=2,
)


@dataclass
class Row:
    """One line of the campaign's table."""

    scenario: str
    sent: int = 0
    acknowledged: int = 0
    expected: int = 0
    found: int = 0
    lost: int = 0
    doubled: int = 0
    recovery: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    @property
    def passed(self) -> bool:
        return not self.problems and self.lost == 0 and self.doubled == 0

    def cells(self) -> list[str]:
        recovery = "-" if self.recovery is None else f"{self.recovery:.1f}"
        return [
            self.scenario,
            str(self.sent),
            str(self.acknowledged),
            str(self.expected),
            str(self.found),
            str(self.lost),
            str(self.doubled),
            recovery,
            "pass" if self.passed else "FAIL",
        ]


HEADER = [
    "scenario",
    "commands sent",
    "acknowledged",
    "expected effects",
    "effects in reporting",
    "lost",
    "doubled",
    "recovery s",
    "result",
]


def table(rows: list[Row]) -> str:
    """The rows as a markdown table, then each failing row's problems."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(HEADER) - 2) + ["---"]) + "|",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    for row in rows:
        for note in row.notes:
            lines.append(f"\n- {row.scenario}: {note}")
        for problem in row.problems[:20]:
            lines.append(f"\n- **{row.scenario}**: {problem}")
        if len(row.problems) > 20:
            lines.append(f"\n- **{row.scenario}**: ... and {len(row.problems) - 20} more")
    return "\n".join(lines) + "\n"


class Campaign:
    """Runs scenarios against one cluster and keeps the books across them."""

    def __init__(self, root: Path, sizes: Sizes, seed: int = 10) -> None:
        self.cluster = Cluster(root, ack_wait=sizes.ack_wait)
        self.sizes = sizes
        self.seed = seed
        self.everything = Expectations()
        self.rows: list[Row] = []
        self.probe_volunteer: str | None = None
        self._scenarios_run = 0
        self._stream_read: dict[str, int] = {}
        self._stored_ids: set[str] = set()

    # ---- lifecycle

    async def start(self) -> None:
        await self.cluster.start(self.sizes.ready_timeout)
        setup = Tally()
        sender = self._sender(setup)
        person = await sender.command(
            "intake",
            "register_person",
            PROBE_SITE,
            {
                "preferred_name": "Campaign probe",
                "roles": ["family_carer"],
                "register_anyway": True,
            },
        )
        if person is None or not person.reply.ok or person.reply.result is None:
            raise CampaignError(f"could not register the probe volunteer's person: {setup}")
        volunteer = await sender.command(
            "volunteers",
            "register_volunteer",
            PROBE_SITE,
            {"person_id": person.reply.result["person_id"], "teams": ["family_committee"]},
            waits_for_events=True,
        )
        if volunteer is None or not volunteer.reply.ok or volunteer.reply.result is None:
            raise CampaignError(f"could not register the probe volunteer: {setup}")
        self.probe_volunteer = volunteer.reply.result["volunteer_id"]
        self.everything.merge(setup.expected)

    async def stop(self) -> None:
        await self.cluster.stop()

    def _sender(self, tally: Tally) -> Sender:
        assert self.cluster.nc is not None
        return Sender(
            self.cluster.nc,
            tally,
            command_deadline=self.sizes.command_deadline,
            propagation_deadline=self.sizes.propagation_deadline,
        )

    # ---- books

    async def _db(self) -> asyncpg.Connection:
        deadline = time.monotonic() + 60
        while True:
            try:
                return await self.cluster.connect_db()
            except (TimeoutError, OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _extra_now(self) -> dict[str, int]:
        conn = await self._db()
        try:
            return await unexplained_rows(conn, self.everything)
        finally:
            await conn.close()

    async def _settle(
        self, expected: Expectations, extra_before: dict[str, int], row: Row
    ) -> Books:
        """Wait (bounded) until reporting holds what is expected and no consumer lags."""
        everything = Expectations()
        everything.merge(self.everything)
        everything.merge(expected)
        deadline = time.monotonic() + self.sizes.settle_timeout
        books: Books | None = None
        pending: dict[str, int] = {}
        while True:
            try:
                conn = await self._db()
                try:
                    books = await read_books(conn, expected, extra_before, everything)
                finally:
                    await conn.close()
                pending = await self.cluster.consumers_pending()
            except (TimeoutError, OSError, asyncpg.PostgresError, nats.errors.Error) as exc:
                row.notes.append(f"books not readable yet: {exc!r}")
            lagging = {k: v for k, v in pending.items() if v}
            if books is not None and books.balanced() and not lagging:
                break
            if time.monotonic() > deadline:
                if lagging:
                    row.problems.append(
                        f"consumers still pending after the settle bound: {lagging}"
                    )
                break
            await asyncio.sleep(0.5)
        if books is None:
            raise CampaignError(f"{row.scenario}: reporting's tables could not be read")
        self.everything.merge(expected)
        row.notes.append(f"settled {time.monotonic() - row.began:.0f} s after the scenario began")
        row.expected = books.expected
        row.found = books.found
        row.lost = books.lost
        row.doubled = books.doubled
        if not books.balanced():
            row.problems.append(f"books do not balance: {books.detail()}")
        await self._check_streams(row)
        return books

    async def _check_streams(self, row: Row) -> None:
        """Each event is stored once in its stream: a copy the relay published again must be
        dropped by JetStream's deduplication (the books cannot see it: inboxes skip it)."""
        stored = 0
        doubled = 0
        for stream in CONSUMED_STREAMS:
            try:
                ids, last = await self.cluster.stored_ids(stream, self._stream_read.get(stream, 0))
            except (TimeoutError, nats.errors.Error, CampaignError) as exc:
                row.problems.append(f"could not read {stream}: {exc!r}")
                continue
            self._stream_read[stream] = last
            stored += len(ids)
            twice = len(ids) - len(set(ids)) + len(set(ids) & self._stored_ids)
            self._stored_ids.update(ids)
            doubled += twice
            if twice:
                row.problems.append(f"{twice} events stored twice in {stream}")
        row.notes.append(f"{stored} events stored in the streams, {doubled} of them twice")

    def _tally_problems(self, tally: Tally, row: Row) -> None:
        row.sent += tally.sent
        row.acknowledged += tally.acknowledged
        row.problems += tally.violations
        row.problems += [f"hang: {u}" for u in tally.unresolved]
        if tally.transient:
            row.notes.append(
                "retried: " + ", ".join(f"{k} x{v}" for k, v in sorted(tally.transient.items()))
            )
        if tally.refused:
            row.notes.append(
                "refused (definite, no effect expected): "
                + ", ".join(f"{k} x{v}" for k, v in sorted(tally.refused.items()))
            )
        if tally.repeats:
            row.notes.append(f"{tally.repeats} deliberate repeats of an acknowledged command_id")

    async def _after(self, row: Row, crashes_before: int) -> None:
        crashes = self.cluster.crashes()
        row.problems += crashes[crashes_before:]
        if crashes[crashes_before:]:
            restarted = await self.cluster.restart_dead_services()
            row.notes.append(f"restarted after a crash: {', '.join(restarted)}")
        try:
            await self.cluster.wait_ready(SERVICES, self.sizes.ready_timeout)
        except CampaignError as exc:
            row.problems.append(str(exc))

    # ---- recovery probes

    async def _probe(self, tally: Tally, path: str) -> float:
        """Send one command whose effect travels ``path`` to reporting; seconds until seen."""
        began = time.monotonic()
        sender = self._sender(tally)
        tag = uuid.uuid4().hex[:10]
        if path == "intake":
            sent = await sender.command(
                "intake",
                "register_person",
                PROBE_SITE,
                {
                    "preferred_name": f"Probe {tag}",
                    "roles": ["community_member"],
                    "register_anyway": True,
                },
            )
        elif path == "groups":
            sent = await sender.command(
                "groups",
                "create_programme",
                PROBE_SITE,
                {
                    "title": f"Probe {tag}",
                    "type": "community_event",
                    "capacity": 0,
                    "venue": f"Probe hall {tag}",
                    "schedule": {
                        "first_date": today().isoformat(),
                        "start_time": "08:00",
                        "duration_min": 30,
                    },
                },
            )
        else:
            sent = await sender.command(
                "volunteers",
                "log_hours",
                PROBE_SITE,
                {"volunteer_id": self.probe_volunteer, "minutes": 15, "activity": "probe"},
            )
        if sent is None or not sent.reply.ok:
            raise CampaignError(f"probe on {path} got no acknowledgement: {sent and sent.reply}")
        effects = effects_of(sent.service, sent.name, sent.payload, sent.reply.result or {})
        kind, key = effects[0]
        table_name, column, condition = KINDS[kind]
        deadline = began + self.sizes.settle_timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncio.TimeoutError):
                conn = await self.cluster.connect_db()
                try:
                    if await conn.fetchval(
                        f"SELECT 1 FROM reporting.{table_name} "
                        f"WHERE {column}::text = $1 AND {condition}",
                        key,
                    ):
                        return time.monotonic() - began
                finally:
                    await conn.close()
            await asyncio.sleep(0.2)
        raise CampaignError(
            f"probe on {path} not in reporting after {self.sizes.settle_timeout:.0f} s"
        )

    async def _recovery(self, tally: Tally, paths: tuple[str, ...], row: Row) -> float | None:
        results = await asyncio.gather(
            *(self._probe(tally, p) for p in paths), return_exceptions=True
        )
        seconds: list[float] = []
        for result in results:
            if isinstance(result, BaseException):
                row.problems.append(f"recovery: {result}")
            else:
                seconds.append(result)
        return max(seconds) if seconds and len(seconds) == len(results) else None

    # ---- scenarios

    async def load_scenario(
        self,
        name: str,
        fault: Callable[[], Awaitable[None]] | None = None,
        probe: str | None = None,
        *,
        clients: int | None = None,
        seconds: float | None = None,
        first: Callable[[Tally, Row], Awaitable[None]] | None = None,
    ) -> Row:
        """Load for a while, with ``fault`` injected (and ended) during it; then the books.

        ``first`` sends something before the load starts, counted in the same books.
        """
        row = Row(name)
        crashes_before = len(self.cluster.crashes())
        extra_before = await self._extra_now()
        tally = Tally()
        assert self.cluster.nc is not None
        if first is not None:
            await first(tally, row)

        async def during() -> None:
            if fault is None:
                return
            await asyncio.sleep(self.sizes.fault_at)
            try:
                await fault()
                ended = time.monotonic()
                await self.cluster.wait_ready(SERVICES, self.sizes.ready_timeout)
                if probe is not None:
                    probed = await self._recovery(tally, PROBED_PATHS[probe], row)
                    ready = time.monotonic() - ended
                    row.recovery = None if probed is None else max(probed, ready)
            except Exception as exc:  # noqa: BLE001 - reported in the row; the books still count
                row.problems.append(f"fault or recovery failed: {exc}")

        self._scenarios_run += 1
        await run_load(
            self.cluster.nc,
            tally,
            clients=clients or self.sizes.clients,
            seconds=seconds or self.sizes.load_seconds,
            seed=self.seed * 100 + self._scenarios_run,
            command_deadline=self.sizes.command_deadline,
            propagation_deadline=self.sizes.propagation_deadline,
            think=self.sizes.think,
            during=during,
        )
        self._tally_problems(tally, row)
        await self._after(row, crashes_before)
        await self._settle(tally.expected, extra_before, row)
        self.rows.append(row)
        return row

    async def plain(self) -> Row:
        return await self.load_scenario("plain load")

    async def kill(self, service: str) -> Row:
        async def fault() -> None:
            await self.cluster.kill_service(service)
            await self.cluster.start_service(service)

        return await self.load_scenario(f"kill -9 {service}", fault, service)

    async def nats_outage(self) -> Row:
        async def fault() -> None:
            await self.cluster.stop_nats()
            await asyncio.sleep(self.sizes.fault_seconds)
            await self.cluster.start_nats()

        return await self.load_scenario(
            f"NATS stopped {self.sizes.fault_seconds:.0f} s", fault, "all"
        )

    async def postgres_outage(self) -> Row:
        async def fault() -> None:
            await self.cluster.kill_postgres()
            await asyncio.sleep(self.sizes.fault_seconds)
            await self.cluster.start_postgres()

        return await self.load_scenario(
            f"PostgreSQL killed, down {self.sizes.fault_seconds:.0f} s", fault, "all"
        )

    async def stall_reporting(self) -> Row:
        async def fault() -> None:
            self.cluster.pause_service("reporting")
            try:
                await asyncio.sleep(self.sizes.fault_seconds)
            finally:
                self.cluster.resume_service("reporting")

        return await self.load_scenario(
            f"reporting stalled (SIGSTOP) {self.sizes.fault_seconds:.0f} s", fault, "reporting"
        )

    async def fuzz(self) -> Row:
        row = Row("fuzz (every command and query)")
        crashes_before = len(self.cluster.crashes())
        extra_before = await self._extra_now()
        assert self.cluster.nc is not None
        report = await fuzzing.fuzz(
            self.cluster.nc,
            examples=self.sizes.fuzz_examples,
            run_seed=self.seed,
            timeout=self.sizes.fuzz_timeout,
            concurrency=self.sizes.fuzz_concurrency,
        )
        row.sent = report.payloads
        row.acknowledged = report.acknowledged
        row.notes.append(
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items()))
        )
        if report.failures:
            row.problems.append(f"{len(report.failures)} replies broke the contract")
            row.problems += report.summary()
        row.problems += [f"example: {f}" for f in report.failures[:3]]
        await self._after(row, crashes_before)
        await self._settle(report.expected, extra_before, row)
        self.rows.append(row)
        self.fuzz_report = report
        return row

    async def poison(self) -> Row:
        assert self.cluster.nc is not None
        rounds = self.sizes.poison_rounds
        dlq_before = await self.cluster.dead_letters()
        stored = await poison.inject(self.cluster.nc, rounds)
        row = await self.load_scenario(
            f"poison events ({stored} on 3 streams)",
            clients=max(10, self.sizes.clients // 5),
            seconds=self.sizes.load_seconds,
        )
        dlq_after = await self.cluster.dead_letters()
        added = {
            subject: count - dlq_before.get(subject, 0)
            for subject, count in dlq_after.items()
            if count - dlq_before.get(subject, 0)
        }
        consumers = list(await self.cluster.consumers_pending())
        row.notes.append(
            "dead letters added: " + ", ".join(f"{s} {n}" for s, n in sorted(added.items()))
        )
        # Not JSON is dead-lettered by every consumer of the stream, and invalid data by each
        # that handles the chosen type; an unknown type may be dead-lettered or skipped.
        if len(added) != len(consumers):
            row.problems.append(
                f"{len(consumers)} consumers read the poisoned streams, but {len(added)} DLQ "
                f"subjects grew: {added}"
            )
        for subject, count in added.items():
            consumer, stream = subject.split(".")[1], subject.split(".")[2].split("-")[0]
            least = poison.least_dead_letters(consumer, stream, rounds)
            if not least <= count <= 3 * rounds:
                row.problems.append(
                    f"{subject}: {count} dead letters for {rounds} rounds of 3 poison kinds "
                    f"(expected {least} to {3 * rounds})"
                )
        return row

    def _oversized_name_length(self, fields: dict[str, Any]) -> int:
        assert self.cluster.nc is not None
        limit = self.cluster.nc.max_payload
        empty = {"command_id": str(uuid.uuid4()), **fields}
        body = len(json.dumps(empty).encode())
        headers = len(
            f"NATS/1.0\r\n{CORRELATION_HEADER}: {uuid.uuid4()}\r\n"
            f"{AUTHORIZATION}: Bearer {HEAD_OFFICE}\r\n\r\n"
        )
        return limit - body - headers - 64

    async def oversized(self) -> Row:
        """create_programme with one ~1 MB facilitator name must be refused; groups goes on."""
        tag = uuid.uuid4().hex[:8]
        fields: dict[str, Any] = {
            "title": f"Oversized {tag}",
            "type": "seminar",
            "capacity": 10,
            "venue": f"Oversized hall {tag}",
            "facilitators": [""],
            "schedule": {
                "first_date": today().isoformat(),
                "start_time": "12:00",
                "duration_min": 60,
            },
        }
        # The name is sized so the request fits under the server's max_payload with a little
        # room, while the events that carry it (in a bigger envelope) do not.
        fields["facilitators"] = ["f" * self._oversized_name_length(fields)]

        async def send_oversized(tally: Tally, row: Row) -> None:
            sent = await self._sender(tally).command(
                "groups", "create_programme", PROBE_SITE, fields
            )
            if sent is None:
                row.problems.append("the oversized create_programme got no definite reply")
            elif sent.reply.ok or sent.reply.error is None:
                row.problems.append(
                    "the oversized create_programme was answered "
                    f"{sent.reply.model_dump(exclude_none=True)} instead of validation_error"
                )
            elif sent.reply.error.code != "validation_error":
                row.problems.append(
                    f"the oversized create_programme was refused with {sent.reply.error.code}"
                    " instead of validation_error"
                )

        # Then groups' later events (and everyone else's) must still reach reporting.
        return await self.load_scenario(
            f"oversized command ({len(fields['facilitators'][0]):,}-byte facilitator)",
            clients=max(10, self.sizes.clients // 5),
            seconds=self.sizes.load_seconds,
            first=send_oversized,
        )

    async def run_all(self) -> list[Row]:
        """Every scenario, in an order where a jammed service cannot hide another finding."""
        await self.plain()
        for service in SERVICES:
            await self.kill(service)
        await self.nats_outage()
        await self.postgres_outage()
        await self.stall_reporting()
        await self.poison()
        await self.fuzz()
        await self.oversized()
        return self.rows
