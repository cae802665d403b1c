"""What every workload shares: the servers, service processes, timing and the result rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.identity import ROLES
from shared.kit.identity.issuing import SigningKey
from shared.local.devservers import NatsServer, PostgresServer, free_port

REPO = Path(__file__).resolve().parent.parent

# The benchmark's own issuer: services (and the baseline responder) verify its token on every
# request, as they would a member of staff's.
_keys = Path(tempfile.mkdtemp(prefix="carenet-bench-keys-"))
BENCH_JWKS = _keys / "jwks.json"
_issuer = SigningKey.generate(issuer="carenet-bench")
_issuer.save(_keys / "signing-key.pem", BENCH_JWKS)
BENCH_TOKEN = _issuer.token("bench", roles=ROLES, sites=["*"], ttl_seconds=24 * 3600)
AUTHORIZATION = {"Authorization": f"Bearer {BENCH_TOKEN}"}
"""The header every benchmark request carries, to carenet and to the baseline alike."""


# --------------------------------------------------------------------------- results


@dataclass
class Side:
    """One side's figure (``value`` in the row's unit) and, where latency matters, p50/p99."""

    value: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    """One line of the table: a workload measured against carenet and against its baseline."""

    workload: str
    unit: str
    better: str
    """``higher`` (throughput) or ``lower`` (a time)."""
    carenet: Side
    baseline: Side
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """carenet / baseline, in the row's unit (so for a time, lower is better)."""
        if not self.baseline.value:
            return None
        return self.carenet.value / self.baseline.value

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        return out


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile of ``values``, nearest rank; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_side(value: float, seconds: Sequence[float], **extra: Any) -> Side:
    """A side with p50/p99 in milliseconds from latencies in seconds."""
    return Side(
        value=value,
        p50_ms=round(percentile(seconds, 0.50) * 1000, 2),
        p99_ms=round(percentile(seconds, 0.99) * 1000, 2),
        extra=extra,
    )


def _figure(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _latency(side: Side) -> str:
    if side.p50_ms is None:
        return ""
    return f"{side.p50_ms:.1f} / {side.p99_ms:.1f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """The table printed by ``python -m bench`` (the same rows as latest.json)."""
    lines = [
        "| workload | unit | carenet | baseline | ratio carenet/baseline | "
        "carenet p50/p99 ms | baseline p50/p99 ms | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        direction = "higher is better" if row.better == "higher" else "lower is better"
        lines.append(
            f"| {row.workload} | {row.unit} ({direction}) | {_figure(row.carenet.value)} | "
            f"{_figure(row.baseline.value)} | {ratio} | {_latency(row.carenet)} | "
            f"{_latency(row.baseline)} | {row.note} |"
        )
    return "\n".join(lines)


def write_results(
    path: Path,
    rows: Sequence[Row],
    options: dict[str, Any],
    seconds: float,
    load_before: tuple[float, float, float],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(seconds, 1),
        "cpus": os.cpu_count(),
        # The machine's load average before and after: other work moves both sides' figures.
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "options": options,
        "workloads": [row.as_json() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- servers


class Servers:
    """An embedded nats-server and PostgreSQL (fsync off) in a temporary directory."""

    def __init__(self) -> None:
        self._root = tempfile.TemporaryDirectory(prefix="carenet-bench-")
        root = Path(self._root.name)
        self.nats = NatsServer(root / "nats")
        self.postgres = PostgresServer(root / "pg", fsync=False)
        self.logs = root / "logs"
        self.logs.mkdir()

    def __enter__(self) -> Servers:
        try:
            self.nats.start()
            self.postgres.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.postgres.stop()
        with contextlib.suppress(Exception):
            self.nats.stop()
        self._root.cleanup()

    @property
    def nats_url(self) -> str:
        return self.nats.url

    async def database(self, name: str) -> str:
        """A new, empty database; its DSN."""
        admin = await asyncpg.connect(self.postgres.dsn)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        return self.postgres.dsn_for(name)


async def delete_streams(nats_url: str) -> None:
    """Every stream on the bench's own NATS (each workload starts from nothing)."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name:
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


def service_env(nats_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a service process (as tests/conftest.py gives one)."""
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "DATABASE_URL": database_url,
        "CARENET_CONFIG": str(DEMO_ORGANISATION),
        "CARENET_HTTP_HOST": "127.0.0.1",
        "CARENET_JWKS": str(BENCH_JWKS),
        "CARENET_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    env.update(extra)
    return env


class ServiceProcess:
    """``python -m services.<name>``, one OS process per service as in production."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, "CARENET_HTTP_PORT": str(self.port)}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=out,
            )
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                return bool(json.loads(r.read()).get("ready"))
        except (OSError, ValueError):
            return False

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            if await asyncio.to_thread(self.ready):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def services_running(
    servers: Servers, database_url: str, names: Sequence[str], **extra: str
) -> Iterator[list[ServiceProcess]]:
    """Start ``names`` as processes (waited for with ``wait_all_ready``); stopped afterwards."""
    env = service_env(servers.nats_url, database_url, **extra)
    started = [ServiceProcess(n, env, servers.logs / f"{n}.log").start() for n in names]
    try:
        yield started
    finally:
        for process in started:
            process.stop()


async def wait_all_ready(processes: Sequence[ServiceProcess]) -> None:
    await asyncio.gather(*(p.wait_ready() for p in processes))


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll ``check`` until it returns something truthy, else fail saying ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what} (last {last!r})")


def run_child(module: list[str], env: dict[str, str], log: Path) -> tuple[str, float, float]:
    """Run ``python -m <module...>`` to the end: (stdout, wall seconds, its peak RSS in MiB,
    measured by ``bench.peak``); its stderr goes to ``log``."""
    peak_file = log.with_suffix(".peak")
    peak_file.unlink(missing_ok=True)
    started = time.perf_counter()
    with log.open("ab") as errors:
        finished = subprocess.run(
            [sys.executable, "-m", "bench.peak", *module],
            env={**env, "BENCH_PEAK_FILE": str(peak_file)},
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=errors,
            check=False,
        )
    seconds = time.perf_counter() - started
    out = finished.stdout.decode()
    if finished.returncode != 0:
        raise RuntimeError(
            f"{module} exited {finished.returncode}: {out[-1000:]} {log.read_text()[-2000:]}"
        )
    return out, seconds, round(int(peak_file.read_text()) / 1024, 1)


async def one_by_one(
    count: int, concurrency: int, send: Callable[[int], Awaitable[bool]]
) -> tuple[float, list[float], int]:
    """``count`` requests from ``concurrency`` clients, each sending its next one when the
    previous is answered: (wall seconds, latencies in seconds, failures)."""
    latencies: list[float] = []
    failures = 0
    next_index = 0

    async def client() -> None:
        nonlocal next_index, failures
        while next_index < count:
            index = next_index
            next_index += 1
            began = time.perf_counter()
            ok = await send(index)
            latencies.append(time.perf_counter() - began)
            if not ok:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, failures


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0
