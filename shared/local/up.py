"""``carenet up``: the whole system on one machine, with nothing pre-installed.

Starts a nats-server (JetStream) and a PostgreSQL from their PyPI packages on free ports,
data under ``.carenet/`` (kept across restarts), then every service as its own process, and
supervises them: a service that dies is started again. ``NATS_URL`` and ``DATABASE_URL``
point it at existing servers instead.

``role`` (``carenet up --role hub|site``, see ``shared.local.roles``) runs head office or one
site on its own instead: its own NATS (a JetStream domain, joined by a leaf node) and
PostgreSQL, and the services that role runs. The hub also keeps its sources of every site
armed (``shared.kit.bus.hub.HubLinks``).

The NATS it starts has authentication on: at every start it makes new passwords for one user
per service instance, ``client`` and ``admin`` (``shared.local.nats_users``), writes the server
config to ``.carenet/nats.conf`` and hands each service its own ``NATS_URL``. ``up.json`` gets
the client's URL (``nats``) and the admin's (``admin_nats``, for operators' commands), never a
service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats

from shared.agency.sites import DEMO_ORGANISATION, Organisation, load_organisation
from shared.kit.bus.hub import HubLinks, provision_site
from shared.kit.contracts.public import SERVICES
from shared.local import identity
from shared.local.devservers import LOOPBACK, NatsServer, PostgresServer, free_port, port_is_free
from shared.local.nats_users import (
    ADMIN,
    CLIENT,
    READS,
    NatsUser,
    render,
    standard_users,
)
from shared.local.roles import Deployment, leaf_users, server_settings

log = logging.getLogger("carenet.up")


@dataclass
class Launch:
    """How to start one service: its name and the arguments after ``python``."""

    name: str
    argv: list[str]


def available_services(root: Path) -> list[Launch]:
    """The services that exist in this checkout (``services/<name>/__main__.py``)."""
    return [
        Launch(name, ["-m", f"services.{name}"])
        for name in SERVICES
        if (root / "services" / name / "__main__.py").exists()
    ]


@dataclass
class Child:
    launch: Launch
    port: int
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *self.launch.argv],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started_at = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Up:
    data_dir: Path
    root: Path
    launches: list[Launch]
    sites: str = "*"
    config: Path = DEMO_ORGANISATION
    nats_url: str | None = None
    database_url: str | None = None
    ready_timeout: float = 90.0
    deployment: Deployment = field(default_factory=lambda: Deployment("single"))
    hub_url: str | None = None
    """A site's leaf-node remote: ``nats-leaf://leaf_<site>:<password>@host:port``."""
    nats: NatsServer | None = field(default=None, init=False)
    nats_users: dict[str, NatsUser] = field(default_factory=dict, init=False)
    """Service or role -> its NATS user, when this run started NATS itself."""
    postgres: PostgresServer | None = field(default=None, init=False)
    children: list[Child] = field(default_factory=list, init=False)
    console: Child | None = field(default=None, init=False)
    """The staff web console (``services.console``), when this checkout has it."""
    organisation: Organisation | None = field(default=None, init=False)
    leaf_users: list[NatsUser] = field(default_factory=list, init=False)
    leaf_port: int | None = field(default=None, init=False)
    links: HubLinks | None = field(default=None, init=False)
    _locked: bool = field(default=False, init=False)

    def _ports(self) -> dict[str, int]:
        """Ports used last time, if they are still free, so URLs stay the same across runs."""
        path = self.data_dir / "ports.json"
        try:
            remembered: dict[str, int] = json.loads(path.read_text())
        except (OSError, ValueError):
            remembered = {}
        return remembered

    def _remember(self, ports: dict[str, int]) -> None:
        (self.data_dir / "ports.json").write_text(json.dumps(ports, indent=2))

    def _port(self, ports: dict[str, int], key: str, taken: set[int]) -> int:
        port = ports.get(key)
        if port is None or port in taken or not port_is_free(port):
            port = free_port()
            while port in taken:
                port = free_port()
        ports[key] = port
        taken.add(port)
        return port

    async def start(self) -> dict[str, Any]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        organisation = load_organisation(self.config)  # fail early, in one line, on a bad file
        self.organisation = organisation
        deployment = self.deployment
        if deployment.role == "site":
            assert deployment.site is not None
            organisation.served_by_deployment(deployment.site)  # a one-line error if not one
        if deployment.role != "single":
            self.sites = deployment.sites(organisation, self.sites)
            wanted = deployment.services([launch.name for launch in self.launches])
            self.launches = [launch for launch in self.launches if launch.name in wanted]
        ports = self._ports()
        taken: set[int] = set()
        if self.nats_url is None:
            sites = None if self.sites.strip() == "*" else organisation.served(self.sites)
            leaf_listen = None
            if deployment.role == "hub":
                self.leaf_port = self._port(ports, "leafnodes", taken)
                self.leaf_users = leaf_users(organisation, self._leaf_passwords())
                leaf_listen = f"{LOOPBACK}:{self.leaf_port}"
            settings = server_settings(deployment, leaf_listen=leaf_listen, hub_url=self.hub_url)
            self.nats = NatsServer(
                self.data_dir / "nats",
                port=self._port(ports, "nats", taken),
                monitor_port=self._port(ports, "nats_monitor", taken),
                server_name=f"carenet-{deployment.domain() or 'local'}",
                config_file=self._write_nats_config(sites, settings),
                log_file=self.data_dir / "logs" / "nats-server.log",
            )
            self.nats.start()
            self.nats_url = self.nats.url
        if self.database_url is None:
            self.postgres = PostgresServer(
                self.data_dir / "postgres",
                port=self._port(ports, "postgres", taken),
                log_file=self.data_dir / "logs" / "postgres.log",
            )
            self.postgres.start()
            await ensure_database(self.postgres.dsn, "carenet")
            self.database_url = self.postgres.dsn_for("carenet")
        await self._provision_hub()  # head office's reporting waits for these streams
        # Tokens are verified against this run's own JWKS; up.json gets it and an operator token.
        issuer = identity.local_issuer(self.data_dir)
        base_env = {
            **os.environ,
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "CARENET_CONFIG": str(self.config),
            "CARENET_SITES": self.sites,
            "CARENET_HTTP_HOST": "127.0.0.1",
            "CARENET_JWKS": identity.trusted_jwks(issuer, os.environ.get("CARENET_JWKS")),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(self.root), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        for launch in self.launches:
            port = self._port(ports, f"http_{launch.name}", taken)
            child = Child(
                launch,
                port,
                self.data_dir / "logs" / f"{launch.name}.log",
                {**base_env, "CARENET_HTTP_PORT": str(port), "NATS_URL": self._url(launch.name)},
            )
            child.start()
            self.children.append(child)
        self._start_console(base_env, ports, taken, issuer)
        self._remember(ports)
        await self._wait_ready()
        await self._provision_site()
        summary: dict[str, Any] = {"role": deployment.role}
        if deployment.site is not None:
            summary["site"] = deployment.site
        summary["sites"] = self.sites
        summary["nats"] = self._url(CLIENT)
        if ADMIN in self.nats_users:
            summary["admin_nats"] = self._url(ADMIN)
        summary |= {
            "database": self.database_url,
            "services": {
                c.launch.name: {"http": c.url} for c in self.children if c is not self.console
            },
            **issuer.summary(),
            "config": str(self.config),
        }
        if self.console is not None:
            summary["console"] = self.console.url
        if self.leaf_port is not None:
            base = f"nats-leaf://{LOOPBACK}:{self.leaf_port}"
            summary["leafnodes"] = base
            summary["leaf_urls"] = {
                user.name.removeprefix("leaf_"): user.url(base) for user in self.leaf_users
            }
        _write_private(self.data_dir / "up.json", json.dumps(summary, indent=2) + "\n")
        return summary

    def _start_console(
        self,
        base_env: dict[str, str],
        ports: dict[str, int],
        taken: set[int],
        issuer: identity.LocalIssuer,
    ) -> None:
        """The console, as the ``client`` NATS user (it sends requests with each signed-in
        user's token, which it issues with this run's signing key), in schema ``console``."""
        if not (self.root / "services" / "console" / "__main__.py").exists():
            return
        port = self._port(ports, "http_console", taken)
        env = {
            **base_env,
            "CARENET_HTTP_PORT": str(port),
            "NATS_URL": self._url(CLIENT),
            "CARENET_SIGNING_KEY": str(issuer.key_file),
            # The operations page: each service's /readyz, and JetStream as the admin user.
            "CARENET_CONSOLE_STATUS_URLS": ",".join(
                f"{c.launch.name}={c.url}" for c in self.children
            ),
        }
        if ADMIN in self.nats_users:
            env["CARENET_CONSOLE_ADMIN_NATS_URL"] = self._url(ADMIN)
        self.console = Child(
            Launch("console", ["-m", "services.console"]),
            port,
            self.data_dir / "logs" / "console.log",
            env,
        )
        self.console.start()
        self.children.append(self.console)

    def _lock(self) -> None:
        """One ``carenet up`` per data directory: a second would rewrite the first's files."""
        path = self.data_dir / "up.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(path.read_text().strip())
            if pid != os.getpid() and Path(f"/proc/{pid}").exists():
                raise RuntimeError(f"carenet up already runs in {self.data_dir} (pid {pid})")
        path.write_text(f"{os.getpid()}\n")
        self._locked = True

    def _write_nats_config(self, sites: list[str] | None, settings: str = "") -> Path:
        """New passwords for every user (a hub's leaf users keep theirs: the sites hold them),
        in a config only this OS user can read."""
        names = [launch.name for launch in self.launches]
        # Examples run with --service may read the stream of any other service run here.
        extra = {n: [other for other in names if other != n] for n in names if n not in READS}
        users = standard_users(names, sites, reads=extra)
        self.nats_users = {
            user.name if user.name in (CLIENT, ADMIN) else service: user
            for service, user in zip([*names, CLIENT, ADMIN], users, strict=True)
        }
        path = self.data_dir / "nats.conf"
        header = (
            "Written by `carenet up` at every start, with new passwords (never commit it).\n"
            "The users and their rights come from shared/local/nats_users.py."
        )
        _write_private(path, settings + render([*users, *self.leaf_users], header=header))
        return path

    def _leaf_passwords(self) -> dict[str, str]:
        """The hub's leaf users' passwords, made once and kept: each site's config holds its
        own, so they must outlive a restart of the hub."""
        path = self.data_dir / "leaf-users.json"
        try:
            kept: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            kept = {}
        assert self.organisation is not None
        for user in leaf_users(self.organisation, kept):
            kept.setdefault(user.name, user.password)
        _write_private(path, json.dumps(kept, indent=2) + "\n")
        return kept

    async def _provision_hub(self) -> None:
        """A hub's aggregate streams, sourcing every site (kept armed by ``supervise``)."""
        assert self.organisation is not None
        if self.deployment.role == "hub":
            self.links = await HubLinks.connect(self._url(ADMIN), self.organisation)
            await self.links.provision()

    async def _provision_site(self) -> None:
        """A summaries-only site's one outgoing stream (sourcing its reporting's stream)."""
        assert self.organisation is not None
        if self.deployment.role == "site":
            assert self.deployment.site is not None
            nc = await nats.connect(self._url(ADMIN))
            try:
                await provision_site(nc.jetstream(), self.organisation, self.deployment.site)
            finally:
                await nc.close()

    def _url(self, who: str) -> str:
        """The NATS URL of a service (or ``client``/``admin``): its own user when this run
        started NATS, else the URL given."""
        assert self.nats_url is not None
        user = self.nats_users.get(who)
        return self.nats_url if user is None else user.url(self.nats_url)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        waiting = list(self.children)
        while waiting:
            for child in list(waiting):
                assert child.process is not None
                if child.process.poll() is not None:
                    raise RuntimeError(
                        f"{child.launch.name} exited with {child.process.returncode} while "
                        f"starting; its log ({child.log_path}) ends:\n{child.tail()}"
                    )
                if await asyncio.to_thread(child.ready):
                    waiting.remove(child)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(c.launch.name for c in waiting)
                raise RuntimeError(f"not ready after {self.ready_timeout:.0f} s: {names}")
            await asyncio.sleep(0.2)

    async def supervise(self, stop: asyncio.Event) -> None:
        """Start again any service that dies, with a growing pause, until ``stop`` is set; at
        a hub, keep the sites' sources armed meanwhile."""
        links = None if self.links is None else asyncio.create_task(self.links.run(stop))
        try:
            await self._supervise(stop)
        finally:
            if links is not None and self.links is not None:
                await links
                await self.links.nats.close()

    async def _supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for child in self.children:
                assert child.process is not None
                code = child.process.poll()
                if code is None:
                    continue
                pause = min(2 ** min(child.restarts, 5), 30)
                if time.monotonic() - child.started_at < pause:
                    continue
                child.restarts += 1
                print(
                    f"carenet: {child.launch.name} exited with {code}; starting it again "
                    f"(log: {child.log_path})",
                    file=sys.stderr,
                )
                child.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()
        if not self._locked:  # another up runs here: its files are not ours
            return
        for written in ("up.json", "nats.conf", "up.pid"):  # leaf-users.json stays
            with contextlib.suppress(OSError):
                (self.data_dir / written).unlink()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this OS user only (it holds passwords), all at once: a
    reader polling for the file never sees half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.touch(mode=0o600, exist_ok=True)
    partial.chmod(0o600)
    partial.write_text(text)
    partial.replace(path)


def without_password(url: str) -> str:
    """``url`` with any password in it replaced by ``***`` (for printing)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


async def ensure_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def print_summary(summary: dict[str, Any], data_dir: Path) -> None:
    role = summary.get("role", "single")
    if role == "hub":
        print("carenet head office (hub) is up.")
    elif role == "site":
        print(f"carenet site {summary.get('site')} is up (serving {summary.get('sites')}).")
    else:
        print("carenet is up.")
    print(f"  NATS        {without_password(summary['nats'])}  (credentials in up.json)")
    if "admin_nats" in summary:
        print("  NATS admin  admin_nats in up.json (carenet reconcile, carenet reporting rebuild)")
    print(f"  PostgreSQL  {summary['database']}")
    if not summary["services"]:
        print("  (no services in this checkout yet)")
    for name, where in summary["services"].items():
        print(f"  {name:<11} {where['http']}  (/readyz, /metrics)")
    if "console" in summary:
        print(
            f"  console     {summary['console']}  (staff sign in here; accounts: carenet "
            "console add-user)"
        )
    if "leafnodes" in summary:
        print(f"  leaf nodes  {summary['leafnodes']}  (each site's URL: leaf_urls in up.json)")
        print("  a site joins with: carenet up --role site --site SITE --hub LEAF_URL")
    print(f"  data and logs in {data_dir}/ ; this summary in {data_dir / 'up.json'}")
    print("  the CLI sends up.json's operator token; for casework make a staff token:")
    print("    export CARENET_TOKEN=$(carenet token --sub ID --roles ROLE[,ROLE] --sites SITE)")
    print("Press Ctrl-C to stop.", flush=True)


async def run_up(up: Up) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        starting = asyncio.create_task(up.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            return 130
        stopping.cancel()
        summary = starting.result()
        print_summary(summary, up.data_dir)
        await up.supervise(stop)
        print("carenet: stopping...", flush=True)
        return 0
    except Exception as exc:  # noqa: BLE001 - reported in one line, then everything is stopped
        print(f"carenet up: {exc}", file=sys.stderr)
        return 1
    finally:
        await asyncio.to_thread(up.stop)
