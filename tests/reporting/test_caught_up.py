"""At a hub, reporting is caught up only when the hub has every event of the sites concerned:
a source of a consumed stream that is not active, or lags, holds back the summaries of the
sites it carries (and of the sites above them). One nats-server: INTAKE is an aggregate stream
whose source is in a JetStream domain that does not answer, as a site with its link down."""

from __future__ import annotations

import json

from nats.aio.client import Client as NatsClient
from nats.js.api import ExternalStream, StreamSource

from services.reporting.app import build as build_reporting
from services.reporting.periodic import caught_up, sites_behind
from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.hub import aggregate_config, site_api
from shared.kit.bus.streams import ensure_stream, stream_config
from shared.kit.service import ServiceRuntime
from tests.bus.helpers import stream_messages
from tests.conftest import eventually

ORGANISATION = load_organisation(DEMO_ORGANISATION)
LIKANG_DEPLOYMENT = set(ORGANISATION.served_by_deployment("likang"))


async def streams_of_a_hub(nc: NatsClient, source_domain: str) -> None:
    """INTAKE sourcing ``source_domain``'s INTAKE (subjects=[], as at a hub); GROUPS and
    VOLUNTEERS as a single machine has them."""
    js = nc.jetstream()
    source = StreamSource(name="INTAKE", external=ExternalStream(api=site_api(source_domain)))
    await js.add_stream(aggregate_config("INTAKE", [source]))
    for service in ("groups", "volunteers"):
        await ensure_stream(js, stream_config(service))


async def with_sources(nc: NatsClient, domains: list[str]) -> None:
    js = nc.jetstream()
    config = (await js.stream_info("INTAKE")).config
    config.sources = [
        StreamSource(name="INTAKE", external=ExternalStream(api=site_api(d))) for d in domains
    ]
    await js.update_stream(config)


async def consuming(runtime: ServiceRuntime) -> set[str]:
    """What ``sites_behind`` says once reporting's own consumers run and have nothing pending."""

    async def read() -> list[set[str]]:
        behind = await sites_behind(runtime)
        return [] if behind is None else [behind]

    [behind] = await eventually(read, timeout=30)
    return behind


async def test_a_source_that_is_not_active_holds_back_the_sites_it_carries(
    start_service, nc: NatsClient
) -> None:
    await streams_of_a_hub(nc, "nowhere")
    reporting = await start_service(("reporting", build_reporting), CARENET_PUBLISH_DAY="0")

    # A domain the sites file does not know: no site can be vouched for.
    assert await consuming(reporting) == set(ORGANISATION.codes())
    assert not await caught_up(reporting)
    assert not await caught_up(reporting, "clubhouse")

    # Likang's deployment down: likang and the sites it serves wait, and hq (it adds them up).
    await with_sources(nc, ["likang"])
    assert await consuming(reporting) == LIKANG_DEPLOYMENT
    assert not await caught_up(reporting)
    for site in ("likang", "jinsha", "hq"):
        assert not await caught_up(reporting, site), site
    for site in ("icmhc", "clubhouse"):
        assert await caught_up(reporting, site), site

    await with_sources(nc, [])
    assert await consuming(reporting) == set()
    assert await caught_up(reporting)


async def test_monthly_summaries_wait_for_the_sites_whose_link_is_down(
    start_service, nc: NatsClient
) -> None:
    await streams_of_a_hub(nc, "likang")
    reporting = await start_service(
        ("reporting", build_reporting),
        CARENET_PUBLISH_DAY="1",
        CARENET_REPORTING_INTERVAL_SECONDS="1",
    )
    every = set(reporting.settings.sites)
    waiting = LIKANG_DEPLOYMENT | {"hq"}

    async def published() -> set[str]:
        return {
            json.loads(m.data)["site"]
            for m in await stream_messages(nc, "REPORTING")
            if json.loads(m.data)["type"] == "reporting.summary.published"
        }

    await eventually(lambda: _equals(published, every - waiting), timeout=30)
    await with_sources(nc, [])
    await eventually(lambda: _equals(published, every), timeout=30)


async def _equals(read, expected: set[str]) -> bool:
    return bool(await read() == expected)
