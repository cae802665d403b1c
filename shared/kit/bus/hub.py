"""Head office and the sites that run their own servers: JetStream sources over leaf nodes.

Each such site runs its own nats-server with JetStream domain = its code, joined to the hub by a
leaf node. Nothing copies messages in application code: the hub's streams *source* the sites'
streams through ``$JS.<site>.API``, so what a site stored while its link was cut arrives
afterwards, exactly once and in order.

- A site that shares ``events``: the hub's ``INTAKE``, ``GROUPS`` and ``VOLUNTEERS`` are
  aggregate streams with no subjects of their own (``subjects=[]``, so they never capture live
  traffic) and one source per site; head office's reporting reads them as it reads any stream.
- A site that shares only ``summaries``: the site keeps a ``SUMMARY_OUT`` stream sourcing its
  own ``summary.published`` events, and the hub's ``REPORTING`` sources that stream alone.
  The hub's leaf user for that site may create consumers on ``SUMMARY_OUT`` and nothing else.

The server retries a source that lost its site with a backoff growing to two minutes, which it
does not let anyone configure. ``HubLinks`` asks each site's JetStream every second whether it
answers, and when a link comes back it removes that site's sources and adds them again: the
server then resumes each from the last message it holds from it, in about two seconds.

What the hub holds of each site is read from its streams' source info (``stream_sources``):
a source hears from its site at least every second (idle heartbeats), so one silent for longer
than ``SOURCE_QUIET_SECONDS`` is not active, and its ``lag`` is as of the last time it heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import ExternalStream, StreamConfig, StreamSource
from nats.js.errors import APIError, NotFoundError

from shared.agency.sites import Organisation, Share
from shared.kit.bus.address import connect_nats
from shared.kit.bus.streams import ensure_stream, stream_config, stream_name

log = logging.getLogger("carenet.hub")

HUB_DOMAIN = "hub"
HUB_REPLIES = "_CARENET_HUB"
"""The inbox prefix of the connection ``HubLinks`` probes sites through: the only replies a
summaries-only site sends to head office besides JetStream's own."""
EVENT_SERVICES = ("intake", "groups", "volunteers")
"""The services whose streams head office aggregates from a site that shares its events
(head office's reporting reads them; it makes its own summaries)."""
SUMMARY_OUT = "SUMMARY_OUT"
SUMMARY_SUBJECT = "evt.*.reporting.summary.published"
LOCAL_API = "$JS.API"
SOURCE_QUIET_SECONDS = 5.0
"""A source that has not heard from its site for longer than this is not active (it hears at
least every second while its link is up; measured 0.85-0.9 s on nats-server 2.15)."""


def site_api(site: str) -> str:
    """The JetStream API prefix of a site's domain, as seen from the hub."""
    return f"$JS.{site}.API"


def shared_streams(share: Share) -> list[tuple[str, str]]:
    """(hub stream, site stream) pairs a site sharing ``share`` feeds."""
    if share == "summaries":
        return [(stream_name("reporting"), SUMMARY_OUT)]
    return [(stream_name(service), stream_name(service)) for service in EVENT_SERVICES]


def summary_out_config() -> StreamConfig:
    """At a summaries-only site: its own published summaries, the one stream the hub sources."""
    return StreamConfig(
        name=SUMMARY_OUT,
        description="carenet: this site's published summaries, the only stream head office sees",
        subjects=[],
        sources=[StreamSource(name=stream_name("reporting"), filter_subject=SUMMARY_SUBJECT)],
        max_age=0,
        allow_direct=True,
    )


@dataclass(frozen=True)
class SourceInfo:
    """One source of a stream, as its server reports it now."""

    name: str
    api: str | None
    """The external API prefix (``$JS.<site>.API``), None for a source in the same domain."""
    lag: int
    active_seconds: float | None
    """Seconds since it last heard from its stream; None when it never has."""

    @property
    def site(self) -> str | None:
        """The site whose domain the source reads, if it is external."""
        return _site_of_api(self.api) if self.api else None

    @property
    def active(self) -> bool:
        return self.active_seconds is not None and self.active_seconds <= SOURCE_QUIET_SECONDS

    @property
    def current(self) -> bool:
        """Whether the stream holds everything of this source, as far as the server knows."""
        return self.active and self.lag == 0


async def stream_sources(nats: NatsClient, stream: str, api: str = LOCAL_API) -> list[SourceInfo]:
    """The sources of ``stream`` with their lag and activity. Read from the API's own answer:
    nats-py's ``StreamSourceInfo`` drops ``external``, which is what tells apart the sources
    of two sites that have the same stream name."""
    reply = await nats.request(f"{api}.STREAM.INFO.{stream}", b"", timeout=5)
    body = json.loads(reply.data)
    if "error" in body:
        APIError.from_error(body["error"])
    found = []
    for source in body.get("sources") or []:
        active = source.get("active")
        found.append(
            SourceInfo(
                name=str(source["name"]),
                api=(source.get("external") or {}).get("api"),
                lag=int(source.get("lag") or 0),
                active_seconds=None
                if active is None or active < 0
                else round(float(active) / 1e9, 1),
            )
        )
    return found


async def provision_site(js: JetStreamContext, organisation: Organisation, site: str) -> bool:
    """What a site's own servers need for head office besides its services' streams: a
    summaries-only site's ``SUMMARY_OUT``. Whether there was anything to do."""
    if organisation.site(site).share != "summaries":
        return False
    await ensure_stream(js, summary_out_config(), update=False)
    return True


def _source(site: str, site_stream: str) -> StreamSource:
    return StreamSource(name=site_stream, external=ExternalStream(api=site_api(site)))


def _is_from(source: StreamSource, site: str) -> bool:
    return source.external is not None and source.external.api == site_api(site)


def aggregate_config(
    hub_stream: str, sources: list[StreamSource], replicas: int = 1
) -> StreamConfig:
    """The hub's aggregate of ``hub_stream``: the kit's settings, no subjects (``REPORTING``
    keeps its own: head office's reporting publishes into it), the sites as sources."""
    config = stream_config(hub_stream.lower(), replicas)
    config.description = f"carenet {hub_stream.lower()} events of every site, sourced"
    if hub_stream != stream_name("reporting"):
        config.subjects = []
    config.sources = sources
    return config


@dataclass
class SourceState:
    hub_stream: str
    site_stream: str
    sourced: bool = False
    """The hub's stream has this source (and answered)."""
    lag: int | None = None
    """Messages of the site's stream the hub has yet to copy, as of ``active_seconds`` ago
    (None: not known)."""
    active_seconds: float | None = None
    """Seconds since the source last heard from its site; None when it never has."""

    @property
    def active(self) -> bool:
        return self.active_seconds is not None and self.active_seconds <= SOURCE_QUIET_SECONDS

    def report(self) -> dict[str, Any]:
        return {
            "stream": self.hub_stream,
            "from": self.site_stream,
            "sourced": self.sourced,
            "lag": self.lag,
            "active_seconds": self.active_seconds,
            "active": self.active,
        }


@dataclass
class SiteLink:
    site: str
    share: Share
    up: bool = False
    since: float = field(default_factory=time.monotonic)
    rearms: int = 0
    last_rearm: float = 0.0
    sources: list[SourceState] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "share": self.share,
            "link": "up" if self.up else "down",
            "for_seconds": round(time.monotonic() - self.since, 1),
            "rearms": self.rearms,
            "sources": [s.report() for s in self.sources],
        }


class HubLinks:
    """Keeps the hub's sources of every site armed: ``provision`` once, then ``run``.

    ``nats`` must be connected with ``inbox_prefix=HUB_REPLIES`` (``connect``): the sites'
    leaf links carry replies to no other inbox."""

    @classmethod
    async def connect(cls, url: str, organisation: Organisation, **options: Any) -> HubLinks:
        """Connect to the hub's NATS (an admin URL) the way the probes need."""
        nats = await connect_nats(url, inbox_prefix=HUB_REPLIES, max_reconnect_attempts=-1)
        return cls(nats, organisation, **options)

    def __init__(
        self,
        nats: NatsClient,
        organisation: Organisation,
        *,
        interval: float = 1.0,
        probe_timeout: float = 1.0,
        inactive_after: float = 10.0,
        replicas: int = 1,
    ) -> None:
        self.nats = nats
        self.js: JetStreamContext = nats.jetstream()
        self.interval = interval
        self.replicas = replicas
        """For the aggregate streams it creates (a hub cluster's ``CARENET_STREAM_REPLICAS``)."""
        self.probe_timeout = probe_timeout
        self.inactive_after = inactive_after
        """Seconds between two re-arms of a site whose sources stay inactive."""
        self.links = {
            site.code: SiteLink(
                site.code,
                site.share,
                sources=[SourceState(h, s) for h, s in shared_streams(site.share)],
            )
            for site in organisation.deployments()
        }

    def _wanted(self) -> dict[str, list[StreamSource]]:
        wanted: dict[str, list[StreamSource]] = {stream_name(s): [] for s in EVENT_SERVICES}
        for link in self.links.values():
            for source in link.sources:
                wanted.setdefault(source.hub_stream, []).append(
                    _source(link.site, source.site_stream)
                )
        return wanted

    async def provision(self) -> None:
        """Create the aggregate streams, or give them the sources they lack (keeping every
        other setting an operator made and every source already there)."""
        for hub_stream, sources in self._wanted().items():
            try:
                info = await self.js.stream_info(hub_stream)
            except NotFoundError:
                await self.js.add_stream(aggregate_config(hub_stream, sources, self.replicas))
                log.info("aggregate stream %s created with %d sources", hub_stream, len(sources))
                continue
            config = info.config
            present = list(config.sources or [])
            missing = [
                s
                for s in sources
                if not any(p.name == s.name and _is_from(p, _site_of(s)) for p in present)
            ]
            if missing:
                config.sources = present + missing
                await self.js.update_stream(config)
                log.info("aggregate stream %s: %d sources added", hub_stream, len(missing))

    async def probe(self, link: SiteLink) -> bool:
        """Whether the site's JetStream answers through the leaf link (its first shared
        stream's info: the one request its leaf user lets through besides the sources')."""
        subject = f"{site_api(link.site)}.STREAM.INFO.{link.sources[0].site_stream}"
        try:
            await self.nats.request(subject, b"", timeout=self.probe_timeout)
        except Exception:  # noqa: BLE001 - no responders, timeout, permission: the link is down
            return False
        return True

    async def rearm(self, site: str) -> None:
        """Remove the site's sources and add them back, so the server resumes them now
        instead of at its next retry."""
        link = self.links[site]
        for hub_stream in {s.hub_stream for s in link.sources}:
            info = await self.js.stream_info(hub_stream)
            config = info.config
            kept = [s for s in config.sources or [] if not _is_from(s, site)]
            theirs = [s for s in config.sources or [] if _is_from(s, site)]
            if not theirs:
                continue
            config.sources = kept
            await self.js.update_stream(config)
            config.sources = kept + theirs
            await self.js.update_stream(config)
        link.rearms += 1
        link.last_rearm = time.monotonic()
        log.info("sources of %s re-armed (link back)", site)

    async def refresh_sources(self) -> None:
        """Each source's lag and activity, as the hub's streams report them."""
        infos: dict[str, list[SourceInfo]] = {}
        for hub_stream in {s.hub_stream for link in self.links.values() for s in link.sources}:
            with contextlib.suppress(Exception):  # not there (yet), or the hub's NATS away
                infos[hub_stream] = await stream_sources(self.nats, hub_stream)
        for link in self.links.values():
            for state in link.sources:
                found = next(
                    (
                        source
                        for source in infos.get(state.hub_stream, [])
                        if source.name == state.site_stream and source.site == link.site
                    ),
                    None,
                )
                state.sourced = found is not None
                heard = found is not None and found.active_seconds is not None
                # A source that never heard from its site reports lag 0: it knows nothing.
                state.lag = found.lag if found is not None and heard else None
                state.active_seconds = found.active_seconds if found is not None else None

    async def observe(self) -> list[SiteLink]:
        """One look at every site, changing nothing on any server: its sources' lag and
        activity, and whether it answers (``up``, probed concurrently). The links whose
        ``up`` changed."""
        await self.refresh_sources()
        links = list(self.links.values())
        answers = await asyncio.gather(*(self.probe(link) for link in links))
        changed = []
        for link, up in zip(links, answers, strict=True):
            if up != link.up:
                link.up = up
                link.since = time.monotonic()
                changed.append(link)
        return changed

    async def check(self) -> None:
        """One round: probe every site, re-arm the sources of each whose link came back (or
        that answers while its sources stay inactive)."""
        changed = await self.observe()
        for link in changed:
            log.warning("leaf link to %s is %s", link.site, "up" if link.up else "down")
        for link in self.links.values():
            came_back = link.up and link in changed
            # A source the server gave up on for now stays silent although the site answers.
            stalled = link.up and not all(s.active for s in link.sources)
            quiet_since_rearm = time.monotonic() - link.last_rearm > self.inactive_after
            if came_back or (stalled and quiet_since_rearm):
                try:
                    await self.rearm(link.site)
                except Exception as exc:  # noqa: BLE001 - retried next round
                    log.warning("could not re-arm the sources of %s: %s", link.site, exc)

    async def run(self, stop: asyncio.Event) -> None:
        await self.provision()
        while not stop.is_set():
            try:
                await self.check()
            except Exception as exc:  # noqa: BLE001 - the hub's NATS restarting; next round
                log.warning("hub links round failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)

    def report(self) -> list[dict[str, Any]]:
        return [link.report() for link in self.links.values()]


def _site_of(source: StreamSource) -> str:
    return _site_of_api(source.external.api if source.external is not None else "")


def _site_of_api(api: str) -> str:
    return api.split(".")[1] if api and api.count(".") >= 2 else ""
