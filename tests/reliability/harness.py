"""A whole carenet on this machine as real processes, with the faults the campaign injects.

One nats-server and one PostgreSQL (the launchers ``carenet up`` uses), and each service as its
own ``python -m services.<name>`` process, exactly as deployed. Faults are real: SIGKILL of a
service, nats-server stopped and started on the same port and store, PostgreSQL killed (no
shutdown at all) and started on the same port and data, SIGSTOP/SIGCONT of a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from shared.agency.sites import DEMO_ORGANISATION
from shared.local.devservers import NatsServer, PostgresServer, free_port
from tests.identity import JWKS

log = logging.getLogger("carenet.reliability")

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "groups", "volunteers", "reporting")
CONSUMED_STREAMS = ("INTAKE", "GROUPS", "VOLUNTEERS")
DATABASE = "carenet"
_PR_SET_PDEATHSIG = 1


class CampaignError(AssertionError):
    """The system broke a promise, or a step did not finish within its bound."""


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


@dataclass
class ServiceProcess:
    """One service as an OS process; knows whether it exited on its own (a crash)."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    crashes: list[str] = field(default_factory=list)
    stopped: bool = False

    def start(self) -> None:
        """Spawn the process (from the event loop's thread, so the death signal holds)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "CARENET_HTTP_PORT": str(self.port)}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
        )
        with self.log_path.open("ab") as out:
            out.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
            )
        self.stopped = False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_alive(self) -> None:
        """Record a crash if the process exited while nobody stopped or killed it."""
        if self.process is None or self.stopped:
            return
        code = self.process.poll()
        if code is not None:
            self.crashes.append(f"{self.name} exited on its own with code {code}")
            self.stopped = True

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, in-flight work simply stops."""
        assert self.process is not None
        self.stopped = True
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        self.stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)
                self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def readiness(self) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
        try:
            conn.request("GET", "/readyz")
            response = conn.getresponse()
            body = response.read()
            try:
                report = json.loads(body)
            except ValueError:
                report = {"raw": body[:200].decode(errors="replace")}
            return response.status, report
        except (OSError, http.client.HTTPException) as exc:
            return 0, {"error": repr(exc)}
        finally:
            conn.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Cluster:
    """nats-server, PostgreSQL and the four services, started and faulted for real."""

    def __init__(self, root: Path, *, ack_wait: float = 10.0) -> None:
        self.root = root
        self.ack_wait = ack_wait
        self.nats_server = NatsServer(root / "nats", log_file=root / "logs" / "nats-server.log")
        self.postgres = PostgresServer(
            root / "pg", fsync=False, log_file=root / "logs" / "postgres.log"
        )
        self.services: dict[str, ServiceProcess] = {}
        self.nc: NatsClient | None = None

    @property
    def nats_url(self) -> str:
        return self.nats_server.url

    @property
    def database_url(self) -> str:
        return self.postgres.dsn_for(DATABASE)

    async def start(self, ready_timeout: float = 120) -> None:
        """Start both servers, the database, the four services; wait until all are ready."""
        await asyncio.to_thread(self.nats_server.start)
        await asyncio.to_thread(self.postgres.start)
        admin = await asyncpg.connect(self.postgres.dsn)
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                await admin.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await admin.close()
        env = {
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "CARENET_CONFIG": str(DEMO_ORGANISATION),
            "CARENET_HTTP_HOST": "127.0.0.1",
            "CARENET_JWKS": str(JWKS),
            "CARENET_LOG_LEVEL": "WARNING",
            # Summaries would publish on their own from the 5th; the books count read models.
            "CARENET_PUBLISH_DAY": "0",
            # After a kill -9 the events a consumer held come back after ack_wait.
            "CARENET_ACK_WAIT_SECONDS": f"{self.ack_wait:g}",
            # One intake serves every site, so a transfer's handoff is to itself: the reply
            # waits for it and names the new case, which the books then expect.
            "CARENET_TRANSFER_WAIT_SECONDS": "10",
        }
        for name in SERVICES:
            service = ServiceProcess(name, env, self.root / "logs" / f"{name}.log")
            self.services[name] = service
            service.start()

        async def quiet(exc: Exception) -> None:
            # The campaign stops nats-server on purpose; its clients reconnect by themselves.
            log.debug("campaign NATS connection: %r", exc)

        self.nc = await nats.connect(
            self.nats_url,
            error_cb=quiet,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=2,
            allow_reconnect=True,
        )
        await self.wait_ready(SERVICES, ready_timeout)

    async def stop(self) -> None:
        """Stop everything this cluster started, services first."""
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 10)
        for service in reversed(list(self.services.values())):
            await asyncio.to_thread(service.terminate)
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.to_thread(self.nats_server.stop)

    # ---- observation

    def crashes(self) -> list[str]:
        for service in self.services.values():
            service.check_alive()
        return [c for s in self.services.values() for c in s.crashes]

    async def wait_ready(self, names: tuple[str, ...] | list[str], timeout: float) -> float:
        """Wait until every named service answers 200 on /readyz; seconds it took."""
        began = time.monotonic()
        waiting = list(names)
        last: dict[str, Any] = {}
        while waiting:
            for name in list(waiting):
                service = self.services[name]
                service.check_alive()
                if service.stopped and service.process is not None:
                    if service.process.poll() is not None:
                        raise CampaignError(
                            f"{name} is not running (exit {service.process.returncode}); "
                            f"log ends:\n{service.tail()}"
                        )
                status, report = await asyncio.to_thread(service.readiness)
                last[name] = report
                if status == 200:
                    waiting.remove(name)
            if waiting:
                if time.monotonic() - began > timeout:
                    raise CampaignError(
                        f"not ready after {timeout:.0f} s: "
                        + ", ".join(f"{n} ({last.get(n)})" for n in waiting)
                    )
                await asyncio.sleep(0.2)
        return time.monotonic() - began

    async def consumers_pending(self) -> dict[str, int]:
        """Per durable consumer of the consumed streams: messages not yet acknowledged."""
        assert self.nc is not None
        js = self.nc.jetstream(timeout=5)
        pending: dict[str, int] = {}
        for stream in CONSUMED_STREAMS:
            try:
                infos = await js.consumers_info(stream)
            except NotFoundError:
                continue
            for info in infos:
                if not info.config.durable_name:
                    continue  # the campaign's own short-lived readers
                pending[f"{stream}/{info.name}"] = int(info.num_pending or 0) + int(
                    info.num_ack_pending or 0
                )
        return pending

    async def dead_letters(self) -> dict[str, int]:
        """DLQ messages per subject (``dlq.<service>.<consumer>``)."""
        assert self.nc is not None
        js = self.nc.jetstream(timeout=5)
        try:
            info = await js.stream_info("DLQ", subjects_filter="dlq.>")
        except NotFoundError:
            return {}
        return dict(info.state.subjects or {})

    async def stream_counts(self, stream: str) -> dict[str, int]:
        """Messages per subject in a stream."""
        assert self.nc is not None
        js = self.nc.jetstream(timeout=5)
        info = await js.stream_info(stream, subjects_filter=">")
        return dict(info.state.subjects or {})

    async def stored_ids(
        self, stream: str, after: int, timeout: float = 120
    ) -> tuple[list[str], int]:
        """``Nats-Msg-Id`` of each message stored in ``stream`` after sequence ``after``, and
        the last sequence read (headers only, through a short-lived consumer of our own)."""
        assert self.nc is not None
        js = self.nc.jetstream(timeout=10)
        last = (await js.stream_info(stream)).state.last_seq
        if last <= after:
            return [], after
        name = f"campaign_reader_{uuid.uuid4().hex[:12]}"
        await js.add_consumer(
            stream,
            ConsumerConfig(
                name=name,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after + 1,
                ack_policy=AckPolicy.NONE,
                headers_only=True,
                inactive_threshold=60,
            ),
        )
        ids: list[str] = []
        seen = after
        deadline = time.monotonic() + timeout
        try:
            reader = await js.pull_subscribe_bind(consumer=name, stream=stream)
            while seen < last:
                if time.monotonic() > deadline:
                    raise CampaignError(f"reading {stream} stopped at {seen} of {last}")
                try:
                    messages = await reader.fetch(500, timeout=2)
                except TimeoutError:
                    continue
                for msg in messages:
                    seen = max(seen, msg.metadata.sequence.stream)
                    msg_id = (msg.headers or {}).get("Nats-Msg-Id")
                    if msg_id:
                        ids.append(msg_id)
            await reader.unsubscribe()
        finally:
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, name)
        return ids, seen

    async def connect_db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url, timeout=5)

    # ---- faults

    async def kill_service(self, name: str) -> None:
        await asyncio.to_thread(self.services[name].kill)

    async def start_service(self, name: str) -> None:
        self.services[name].start()

    async def restart_dead_services(self) -> list[str]:
        """Start again any service not running (after a crash found by ``crashes``)."""
        started = []
        for name, service in self.services.items():
            if service.process is None or service.process.poll() is not None:
                service.start()
                started.append(name)
        return started

    async def stop_nats(self) -> None:
        await asyncio.to_thread(self.nats_server.stop)

    async def start_nats(self) -> None:
        await asyncio.to_thread(self.nats_server.start)

    async def kill_postgres(self) -> None:
        """SIGKILL the postmaster and its backends: no shutdown checkpoint, crash recovery next."""
        await asyncio.to_thread(self.postgres.kill)

    async def start_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.start)

    def pause_service(self, name: str) -> None:
        self.services[name].pause()

    def resume_service(self, name: str) -> None:
        self.services[name].resume()
