"""Real servers for the tests: one nats-server and one PostgreSQL per test session.

Both come from the same launcher as ``carenet up`` (PyPI packages, free ports, a temporary
directory), unless ``TEST_NATS_URL`` / ``TEST_DATABASE_URL`` name servers to use instead
(dedicated ones: every stream on that NATS is deleted before each test). Each test gets a
fresh database and a NATS with no streams.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.bus.requests import request
from shared.kit.config import Settings, load_settings
from shared.kit.contracts.replies import Reply
from shared.kit.service import ServiceDefinition, ServiceRuntime
from shared.local.devservers import NatsServer, PostgresServer
from tests.identity import JWKS, token_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="carenet-test-") as root:
        yield Path(root)


@pytest.fixture(scope="session")
def session_nats_url(server_root: Path) -> Iterator[str]:
    if url := os.environ.get("TEST_NATS_URL"):
        yield url
        return
    server = NatsServer(server_root / "nats").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def session_postgres_url(server_root: Path) -> Iterator[str]:
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    server = PostgresServer(server_root / "pg", fsync=False).start()
    try:
        yield server.dsn
    finally:
        server.stop()


async def delete_all_streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for name in await js.streams_info():
            await js.delete_stream(name.config.name)
    finally:
        await nc.close()


@pytest.fixture
async def nats_url(session_nats_url: str) -> str:
    await delete_all_streams(session_nats_url)
    return session_nats_url


def _with_database(dsn: str, database: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{database}"


async def _create_database(server_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return name


async def _drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def database_url(session_postgres_url: str) -> AsyncIterator[str]:
    name = await _create_database(session_postgres_url)
    yield _with_database(session_postgres_url, name)
    await _drop_database(session_postgres_url, name)


@pytest.fixture
async def another_database(
    session_postgres_url: str,
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """``await another_database()``: the URL of one more fresh database (a second site's own
    PostgreSQL, as it were); each is dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        made.append(await _create_database(session_postgres_url))
        return _with_database(session_postgres_url, made[-1])

    yield make
    for name in made:
        await _drop_database(session_postgres_url, name)


def service_env(nats_url: str, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "NATS_URL": nats_url,
        "DATABASE_URL": database_url,
        "CARENET_CONFIG": str(DEMO_ORGANISATION),
        "CARENET_HTTP_PORT": "0",
        "CARENET_HTTP_HOST": "127.0.0.1",
        "CARENET_JWKS": str(JWKS),
    }
    env.update(extra)
    return env


@pytest.fixture
def settings_for(nats_url: str, database_url: str) -> Callable[..., Settings]:
    def build(service: str, **extra: str) -> Settings:
        return load_settings(service, service_env(nats_url, database_url, **extra))

    return build


async def started_runtime(
    settings_for: Callable[..., Settings], definition: ServiceDefinition, **env: str
) -> ServiceRuntime:
    """A service started in this process that the caller stops itself (to stop and start
    it again within one test); ``start_service`` stops what it starts after the test."""
    runtime = ServiceRuntime(definition, settings_for(definition.name, **env))
    try:
        await asyncio.wait_for(runtime.start(), timeout=30)
    except BaseException:
        await runtime.stop()
        raise
    return runtime


@pytest.fixture
async def start_service(
    settings_for: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[ServiceRuntime]]]:
    """Start a service in this process; every one started is stopped after the test."""
    running: list[ServiceRuntime] = []

    async def start(
        definition: ServiceDefinition | tuple[str, Callable[[Settings], ServiceDefinition]],
        **extra: str,
    ) -> ServiceRuntime:
        """Start a definition, or ``(name, build)`` for a service built from its settings."""
        if isinstance(definition, tuple):
            name, build = definition
            settings = settings_for(name, **extra)
            runtime = ServiceRuntime(build(settings), settings)
        else:
            runtime = ServiceRuntime(definition, settings_for(definition.name, **extra))
        running.append(runtime)
        await asyncio.wait_for(runtime.start(), timeout=30)
        return runtime

    yield start
    for runtime in reversed(running):
        try:
            await asyncio.wait_for(runtime.stop(), timeout=30)
        except TimeoutError:
            for task in asyncio.all_tasks():
                task.print_stack(limit=8)
            raise


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    yield client
    await client.close()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value {last!r})")


class ServiceClient:
    """Sends one service's commands and queries the way staff tools do, with a token for
    ``sub`` (every role at every site unless ``token`` says otherwise)."""

    def __init__(
        self,
        nc: NatsClient,
        service: str,
        site: str,
        sub: str = "worker-1",
        *,
        token: str | None = None,
    ) -> None:
        self.nc = nc
        self.service = service
        self.site = site
        self.sub = sub
        self.token = token or token_for(sub)

    async def cmd(self, name: str, *, site: str | None = None, **fields: Any) -> Reply:
        payload = {"command_id": str(uuid.uuid4()), **fields}
        return await request(
            self.nc, "cmd", site or self.site, self.service, name, payload, token=self.token
        )

    async def qry(self, name: str, *, site: str | None = None, **fields: Any) -> Reply:
        return await request(
            self.nc, "qry", site or self.site, self.service, name, fields, token=self.token
        )

    async def ok(self, name: str, **fields: Any) -> dict[str, Any]:
        """Send a command (or a query, for names given with ``qry:``) that must succeed."""
        if name.startswith("qry:"):
            reply = await self.qry(name[4:], **fields)
        else:
            reply = await self.cmd(name, **fields)
        assert reply.ok, f"{name} failed: {reply.error}"
        assert reply.result is not None
        return reply.result


class ServiceProcess:
    """A service as a real OS process, for crash tests (``python -m <module> args``)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **extra_env: str) -> ServiceProcess:
        env = {**os.environ, **self.env, **extra_env}
        env.setdefault("PYTHONPATH", str(REPO))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.args], env=env, cwd=REPO, stdout=out, stderr=out
            )
        return self

    def wait(self, timeout: float = 30) -> int:
        """Its exit code; a process still running after ``timeout`` fails the test with
        what it printed (where it was stuck), and is left for ``stop``."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{' '.join(self.args)} still running after {timeout:.0f} s; it printed:\n"
                + self.output()[-6000:]
            ) from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def service_process(
    nats_url: str, database_url: str, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def make(*args: str, **extra_env: str) -> ServiceProcess:
        env = service_env(nats_url, database_url, **extra_env)
        proc = ServiceProcess(list(args), env, tmp_path / f"{args[-1]}-{len(started)}.log")
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()
