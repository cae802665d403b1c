"""``carenet status``: each service instance's health, consumer lag, outbox and dead letters.

The instances are those ``up.json`` lists (``services``), or the status URLs given with
``--url``. Each one's ``/readyz`` says whether it is ready, which sites it serves, its outbox
backlog and parked events and its durables; JetStream (``admin_nats`` of ``up.json``, or
``NATS_URL``) gives each durable's lag as of now and the dead letters per service (subjects
``dlq.<service>.<subscription>`` of ``DLQ``). Exit 0 when every instance shown is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shared.kit.bus.streams import DLQ_STREAM


@dataclass
class Consumer:
    stream: str
    durable: str
    healthy: bool | None = None
    pending: int | None = None
    ack_pending: int | None = None
    leading: bool | None = None
    """Whether this instance is the replica fetching for the durable (False: standby)."""


@dataclass
class Instance:
    service: str
    url: str
    reachable: bool = False
    ready: bool = False
    sites: list[str] | None = None
    """None: every site (or, when not reachable, not known)."""
    failing: list[str] = field(default_factory=list)
    relay: str | None = None
    backlog: int | None = None
    parked: int | None = None
    consumers: list[Consumer] = field(default_factory=list)
    dead_letters: int | None = None

    @property
    def pending(self) -> int | None:
        return self._total([c.pending for c in self.consumers])

    @property
    def ack_pending(self) -> int | None:
        return self._total([c.ack_pending for c in self.consumers])

    def _total(self, values: list[int | None]) -> int | None:
        """The sum over durables; 0 for an instance that consumes nothing, None if unknown."""
        if self.reachable and not self.consumers:
            return 0
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    def serves(self, site: str) -> bool:
        return self.sites is None or site in self.sites


def endpoints(urls: list[str], data: str | None) -> list[tuple[str, str]]:
    """(service, status URL) from ``--url [NAME=]URL``, else from ``up.json``."""
    if urls:
        found = []
        for spec in urls:
            name, _, url = spec.partition("=") if "=" in spec.split("://", 1)[0] else ("", "", spec)
            found.append((name, url.rstrip("/")))
        return found
    summary = _up_json(data)
    services = summary.get("services")
    if not isinstance(services, dict):
        return []
    return [
        (name, str(entry["http"]).rstrip("/"))
        for name, entry in sorted(services.items())
        if isinstance(entry, dict) and entry.get("http")
    ]


def _up_json(data: str | None) -> dict[str, Any]:
    folder = Path(data or os.environ.get("CARENET_DATA") or ".carenet")
    try:
        found = json.loads((folder / "up.json").read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _readyz(url: str) -> dict[str, Any] | None:
    """The readiness report (a 503 carries one too), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except (OSError, ValueError):
        return None
    try:
        report = json.loads(body)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def instance(name: str, url: str, report: dict[str, Any] | None) -> Instance:
    found = Instance(service=name or url, url=url)
    if report is None:
        found.failing = ["unreachable"]
        return found
    found.reachable = True
    found.service = str(report.get("service") or found.service)
    found.ready = report.get("ready") is True
    sites = report.get("sites")
    found.sites = [str(s) for s in sites] if isinstance(sites, list) else None
    checks = report.get("checks") or {}
    found.failing = [k for k, v in checks.items() if k != "outbox_relay" and v is not True]
    if "error" in report:
        found.failing.append(str(report["error"]))
    outbox = report.get("outbox") or {}
    found.relay = outbox.get("relay")
    found.backlog = outbox.get("backlog")
    found.parked = outbox.get("parked")
    if found.relay == "retrying":
        found.failing.append("outbox relay retrying")
    found.consumers = [
        Consumer(
            stream=str(c["stream"]),
            durable=str(c["durable"]),
            healthy=c.get("healthy"),
            pending=c.get("pending"),
            ack_pending=c.get("ack_pending"),
            leading=c.get("leading"),
        )
        for c in report.get("consumers") or []
        if isinstance(c, dict) and "stream" in c and "durable" in c
    ]
    return found


async def from_jetstream(url: str, instances: list[Instance]) -> None:
    """Each durable's lag as of now, and the dead letters per service."""
    from nats.js.errors import NotFoundError

    from shared.kit.bus.address import connect_nats

    nc = await connect_nats(url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        for found in instances:
            for consumer in found.consumers:
                try:
                    info = await js.consumer_info(consumer.stream, consumer.durable)
                except NotFoundError:
                    continue
                consumer.pending = info.num_pending or 0
                consumer.ack_pending = info.num_ack_pending or 0
        try:
            dlq = await js.stream_info(DLQ_STREAM, subjects_filter="dlq.>")
            per_subject = dlq.state.subjects or {}
        except NotFoundError:
            per_subject = {}
        for found in instances:
            found.dead_letters = sum(
                count
                for subject, count in per_subject.items()
                if subject.split(".")[1:2] == [found.service]
            )
    finally:
        await nc.close()


def _cell(value: Any) -> str:
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    return str(value)


def table(instances: list[Instance], nats_note: str | None) -> str:
    header = ["SERVICE", "URL", "READY", "SITES", "PENDING", "ACK PENDING", "OUTBOX", "PARKED"]
    header += ["DEAD LETTERS", "PROBLEMS"]
    rows = [header]
    for found in instances:
        rows.append(
            [
                found.service,
                found.url,
                _cell(found.ready),
                "*" if found.reachable and found.sites is None else _cell(found.sites),
                _cell(found.pending),
                _cell(found.ack_pending),
                _cell(found.backlog),
                _cell(found.parked),
                _cell(found.dead_letters),
                ", ".join(found.failing) or "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lagging = [(f, c) for f in instances for c in f.consumers]
    if lagging:
        lines.append("")
        lines.append("consumers (pending / ack pending):")
        for found, consumer in lagging:
            health = "" if consumer.healthy is not False else "  NOT HEALTHY"
            standby = "  (standby)" if consumer.leading is False else ""
            lines.append(
                f"  {found.service:<12} {consumer.stream}/{consumer.durable}: "
                f"{_cell(consumer.pending)} / {_cell(consumer.ack_pending)}{standby}{health}"
            )
    if nats_note:
        lines.append("")
        lines.append(nats_note)
    return "\n".join(lines)


async def collect(
    urls: list[str], data: str | None, nats_url: str | None, site: str | None
) -> tuple[list[Instance], str | None]:
    targets = endpoints(urls, data)
    reports = await asyncio.gather(*(asyncio.to_thread(_readyz, url) for _, url in targets))
    instances = [
        instance(name, url, report) for (name, url), report in zip(targets, reports, strict=True)
    ]
    if site is not None:
        instances = [i for i in instances if i.serves(site)]
    note = None
    if nats_url is None:
        note = "no NATS URL (NATS_URL, or admin_nats in up.json): lag as last seen, dead letters ?"
    else:
        try:
            await asyncio.wait_for(from_jetstream(nats_url, instances), timeout=20)
        except Exception as exc:  # noqa: BLE001 - the services' own reports still stand
            note = f"JetStream not read ({type(exc).__name__}: {exc}): lag as last seen"
    return instances, note


def run(args: argparse.Namespace) -> int:
    from shared.cli.client import operator_nats_url

    if not args.url and not endpoints([], args.data):
        print(
            "carenet status: no services: run `make up` (it writes .carenet/up.json) or name "
            "status URLs with --url",
            file=sys.stderr,
        )
        return 2
    nats_url = args.nats or operator_nats_url(args.data)
    instances, note = asyncio.run(collect(args.url or [], args.data, nats_url, args.site))
    ready = bool(instances) and all(i.ready for i in instances)
    if args.json:
        print(
            json.dumps(
                {
                    "ready": ready,
                    "site": args.site,
                    "note": note,
                    "services": [
                        asdict(i) | {"pending": i.pending, "ack_pending": i.ack_pending}
                        for i in instances
                    ],
                },
                indent=2,
            )
        )
    else:
        if not instances:
            print(f"no service instance serves {args.site}")
        else:
            print(table(instances, note))
    return 0 if ready else 1


def add_parser(sub: Any) -> None:
    status = sub.add_parser(
        "status",
        help="each service's health, consumer lag, outbox backlog and dead letters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("--site", default=None, help="only instances that serve this site")
    status.add_argument(
        "--url",
        action="append",
        metavar="[NAME=]URL",
        help="a service's status URL, e.g. http://10.0.0.5:8080 (repeatable; default: the "
        "services of up.json)",
    )
    status.add_argument(
        "--nats",
        default=None,
        help="NATS URL for lag and dead letters (default: NATS_URL, else admin_nats of up.json)",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    status.set_defaults(handler=run)
