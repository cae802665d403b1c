"""The permission tables agree with what the services really do (no server needed)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.reporting.app import build as build_reporting
from services.volunteers.app import build as build_volunteers
from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.bus.consumer import EventConsumer
from shared.kit.config import load_settings
from shared.local.nats_users import READS, SERVICES, durable_name, service_permissions
from tests.identity import JWKS

BUILDS = {
    "intake": build_intake,
    "groups": build_groups,
    "volunteers": build_volunteers,
    "reporting": build_reporting,
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("sites", [None, ("likang",), ("jinsha", "likang")])
def test_reads_and_durables_are_the_services_own(service, sites):
    env = {
        "NATS_URL": "nats://127.0.0.1:1",
        "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
        "CARENET_CONFIG": str(DEMO_ORGANISATION),
        "CARENET_JWKS": str(JWKS),
        "CARENET_SITES": "*" if sites is None else ",".join(sites),
    }
    definition = BUILDS[service](load_settings(service, env))
    assert tuple(s.source for s in definition.subscriptions) == READS[service]
    allowed = service_permissions(service, sites)["publish"]["allow"]
    for subscription in definition.subscriptions:
        consumer = EventConsumer(
            subscription,
            service,
            service,
            None,
            ZoneInfo("UTC"),
            sites,  # type: ignore[arg-type]
        )
        assert consumer.durable == durable_name(service, subscription.source, sites)
        assert f"$JS.API.CONSUMER.MSG.NEXT.{consumer.stream}.{consumer.durable}" in allowed
        config = consumer.consumer_config()
        assert config.name == config.durable_name == consumer.durable
        if config.filter_subject:  # one filter: the user is held to it
            assert (
                f"$JS.API.CONSUMER.CREATE.{consumer.stream}.{consumer.durable}."
                f"{config.filter_subject}"
                in allowed
                or f"$JS.API.CONSUMER.CREATE.{consumer.stream}.{consumer.durable}.>" in allowed
            )
