"""``carenet status``: each service instance's health, consumer lag, outbox and dead letters,
and at head office each site's link and source lag.

The instances are those ``up.json`` lists (``services``), or the status URLs given with
``--url``. Each one's ``/readyz`` says whether it is ready, which sites it serves, its outbox
backlog and parked events and its durables; JetStream (``admin_nats`` of ``up.json``, or
``NATS_URL``) gives each durable's lag as of now and the dead letters per service (subjects
``dlq.<service>.<subscription>`` of ``DLQ``).

At head office (``up.json`` of ``carenet up --role hub``, or ``--hub`` with ``NATS_URL`` of
an admin and ``CARENET_CONFIG``), each site that runs its own servers gets a row per stream
it feeds: whether its leaf link answers (``HubLinks``' probe), what it shares, and per source
of the hub's streams its lag (messages the hub has yet to copy, as of when it last heard from
the site) and seconds since it last heard. ``--site S`` shows the instances serving S and the
link carrying S's events.

Exit status: 0 when every instance shown is ready and, at head office, every link shown is up
with every source in place and active; 1 otherwise (a lagging source alone is catching up, not
a failure); 2 when there is nothing to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

from shared.agency.sites import DEMO_ORGANISATION, Organisation, load_organisation
from shared.kit.bus.hub import HUB_REPLIES, HubLinks, SiteLink
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


@dataclass
class Link:
    """A site with its own servers, as head office sees it now."""

    link: SiteLink
    serves: list[str]

    @property
    def problems(self) -> list[str]:
        found = [] if self.link.up else ["link down"]
        for source in self.link.sources:
            if not source.sourced:
                found.append(f"{source.hub_stream} does not source it")
            elif self.link.up and not source.active:
                heard = source.active_seconds
                found.append(
                    f"{source.hub_stream}: "
                    + ("never heard from" if heard is None else f"silent {heard:.0f} s")
                )
        return found

    def report(self) -> dict[str, Any]:
        return {
            "site": self.link.site,
            "share": self.link.share,
            "link": "up" if self.link.up else "down",
            "serves": self.serves,
            "sources": [source.report() for source in self.link.sources],
            "problems": self.problems,
        }


@dataclass
class Status:
    instances: list[Instance]
    links: list[Link] | None = None
    """At head office, each site's link (None: not at head office, or not read)."""
    hub: bool = False
    note: str | None = None

    @property
    def ready(self) -> bool:
        return all(i.ready for i in self.instances)

    @property
    def ok(self) -> bool:
        """What the exit status says: everything shown is as it should be."""
        if not self.instances and not self.hub:
            return False
        if self.hub and self.links is None:
            return False
        return self.ready and all(not link.problems for link in self.links or [])


async def site_links(
    nats: NatsClient, organisation: Organisation, site: str | None = None
) -> list[Link]:
    """At head office, each site with its own servers (only the one carrying ``site``'s events,
    when given): HubLinks' own look at its link and sources, re-arming nothing."""
    links = HubLinks(nats, organisation)
    await links.observe()
    found = []
    for link in links.links.values():
        serves = organisation.served_by_deployment(link.site)
        if site is None or site in serves:
            found.append(Link(link, serves))
    return found


def hub_organisation(hub: bool, data: str | None) -> Organisation | None:
    """The sites file of head office: ``config`` of its ``up.json`` (role ``hub``), else
    ``CARENET_CONFIG`` with ``--hub``; None when this is not head office.
    Raises ``ValueError`` for a bad sites file."""
    summary = _up_json(data)
    at_hub = summary.get("role") == "hub"
    if not (hub or at_hub):
        return None
    config = (summary.get("config") if at_hub else None) or os.environ.get("CARENET_CONFIG")
    return load_organisation(Path(config or DEMO_ORGANISATION))


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


async def from_jetstream(
    url: str,
    instances: list[Instance],
    hub: Organisation | None = None,
    site: str | None = None,
) -> list[Link] | None:
    """Each durable's lag as of now, and the dead letters per service; at head office (``hub``)
    each site's link (``site_links``)."""
    from nats.js.errors import NotFoundError

    from shared.kit.bus.address import connect_nats

    nc = await connect_nats(
        url,
        connect_timeout=5,
        max_reconnect_attempts=0,
        allow_reconnect=False,
        # The sites answer the probe only on the links keeper's prefix (no _INBOX crosses).
        inbox_prefix=HUB_REPLIES,
    )
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
        return None if hub is None else await site_links(nc, hub, site)
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


def table(instances: list[Instance]) -> str:
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
    return "\n".join(lines)


def _heard(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s ago"


def links_table(links: list[Link]) -> str:
    """One row per stream a site feeds; the site's columns on its first row."""
    rows = [["SITE", "SHARES", "LINK", "STREAM", "FROM", "LAG", "LAST HEARD", "PROBLEMS"]]
    for found in links:
        link = found.link
        head = [link.site, link.share, "up" if link.up else "DOWN"]
        problems = ", ".join(found.problems) or "-"
        for n, source in enumerate(link.sources):
            rows.append(
                (head if n == 0 else ["", "", ""])
                + [
                    source.hub_stream,
                    source.site_stream,
                    _cell(source.lag),
                    _heard(source.active_seconds),
                    problems if n == 0 else "",
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


async def collect(
    urls: list[str],
    data: str | None,
    nats_url: str | None,
    site: str | None,
    hub: Organisation | None = None,
) -> Status:
    targets = endpoints(urls, data)
    reports = await asyncio.gather(*(asyncio.to_thread(_readyz, url) for _, url in targets))
    instances = [
        instance(name, url, report) for (name, url), report in zip(targets, reports, strict=True)
    ]
    if site is not None:
        instances = [i for i in instances if i.serves(site)]
    status = Status(instances, hub=hub is not None)
    if nats_url is None:
        status.note = "no NATS URL (NATS_URL, or admin_nats in up.json): lag as last seen, dead "
        status.note += "letters ?" + (", sites' links not read" if hub is not None else "")
    else:
        try:
            status.links = await asyncio.wait_for(
                from_jetstream(nats_url, instances, hub, site), timeout=20
            )
        except Exception as exc:  # noqa: BLE001 - the services' own reports still stand
            status.note = f"JetStream not read ({type(exc).__name__}: {exc}): lag as last seen"
            if hub is not None:
                status.note += ", sites' links not read"
    return status


def report(status: Status, site: str | None) -> dict[str, Any]:
    """The ``--json`` document."""
    return {
        "ok": status.ok,
        "ready": status.ready,
        "site": site,
        "note": status.note,
        "services": [
            asdict(i) | {"pending": i.pending, "ack_pending": i.ack_pending}
            for i in status.instances
        ],
        "hub": status.hub,
        "links": None if status.links is None else [link.report() for link in status.links],
    }


def show(status: Status, site: str | None) -> str:
    """The table(s) an operator reads."""
    parts = []
    if status.instances:
        parts.append(table(status.instances))
    elif not status.hub:
        parts.append(f"no service instance serves {site}")
    if status.links:
        parts.append(
            "sites with their own servers (lag: what head office has yet to copy, as of when "
            "it last heard):\n" + links_table(status.links)
        )
    elif status.links is not None:
        parts.append(
            f"no site with its own servers carries {site}'s events"
            if site
            else "no site runs its own servers"
        )
    if status.note:
        parts.append(status.note)
    return "\n\n".join(parts)
