"""Each denial the issue names, against a real nats-server with the users carenet makes.

Denials show differently (measured, docs/nats-users.md): a denied plain publish or subscribe
reaches only the client's error callback (``permissions violation ...``) and the server log;
a denied JetStream API call gets no answer, so it times out (short timeouts here).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.errors import NoServersError
from nats.js.api import ConsumerConfig, StreamConfig

from shared.kit.bus.streams import dlq_config, find_event_ids, stream_config
from shared.local.nats_users import (
    CLIENT_CONSUMER,
    NatsUser,
    durable_name,
    reader_permissions,
    standard_users,
    user_name,
)

SHORT = 1.0


async def _reported(nc, errors: list[str], text: str) -> bool:
    """Whether the server reports ``text`` within a second (the -ERR may trail the PONG)."""
    await nc.flush(timeout=2)
    for _ in range(20):
        if any(error.endswith(text) for error in errors):
            return True
        await asyncio.sleep(0.05)
    return False


async def publish_denied(nc, errors: list[str], subject: str) -> bool:
    await nc.publish(subject, b"{}")
    return await _reported(nc, errors, f'permissions violation for publish to "{subject}"')


async def subscribe_denied(nc, errors: list[str], subject: str) -> bool:
    await nc.subscribe(subject)  # returns a Subscription even when refused
    return await _reported(nc, errors, f'permissions violation for subscription to "{subject}"')


async def js_call_denied(call) -> bool:
    try:
        await call
    except (TimeoutError, nats.errors.TimeoutError):
        return True
    return False


@pytest.fixture
async def server(auth_nats):
    users = standard_users()
    users += standard_users(sites=("likang",))[:4]  # the instances serving likang only
    users.append(
        NatsUser("reader", "reader-secret", reader_permissions(consumers={"INTAKE": "dashboard"}))
    )
    running = auth_nats(users)
    admin = await running.connect("admin")
    js = admin.jetstream()
    for service in ("intake", "groups", "volunteers", "reporting"):
        await js.add_stream(stream_config(service))
    await js.add_stream(dlq_config())
    await js.publish(
        "evt.likang.intake.person.registered",
        b"{}",
        stream="INTAKE",
        headers={"Nats-Msg-Id": "e-1"},
    )
    return running


async def test_an_unauthenticated_connection_is_refused(server):
    with pytest.raises((nats.errors.Error, NoServersError, OSError)) as refused:
        await nats.connect(server.server.url, allow_reconnect=False, connect_timeout=3)
    assert "authorization violation" in str(refused.value).lower()
    wrong = server.url("intake").replace(server.users["intake"].password, "guessed")
    with pytest.raises((nats.errors.Error, NoServersError, OSError)):
        await nats.connect(wrong, allow_reconnect=False, connect_timeout=3)


async def test_intake_publishes_its_own_events_and_not_groups(server):
    errors: list[str] = []
    nc = await server.connect("intake", errors)
    assert not await publish_denied(nc, errors, "evt.likang.intake.person.registered")
    assert await publish_denied(nc, errors, "evt.likang.groups.session.scheduled")
    js = nc.jetstream(timeout=SHORT)
    assert await js_call_denied(js.publish("evt.likang.groups.session.scheduled", b"{}"))
    ack = await js.publish("evt.likang.intake.person.registered", b"{}", stream="INTAKE")
    assert ack.stream == "INTAKE"
    # Nor does it serve another service's requests.
    assert await subscribe_denied(nc, errors, "cmd.likang.groups.*")


async def test_reporting_publishes_no_other_service_event(server):
    errors: list[str] = []
    nc = await server.connect("reporting", errors)
    for subject in (
        "evt.likang.intake.person.registered",
        "evt.likang.groups.session.scheduled",
        "evt.likang.volunteers.volunteer.registered",
        "cmd.likang.intake.register_person",
    ):
        assert await publish_denied(nc, errors, subject), subject
    # Its one event of its own (summary.published) is all it may publish.
    assert not await publish_denied(nc, errors, "evt.likang.reporting.summary.published")


async def test_a_read_only_consumer_reads_but_cannot_publish_or_delete(server):
    errors: list[str] = []
    nc = await server.connect("reader", errors)
    js = nc.jetstream(timeout=SHORT)
    # Reads: stored events by sequence, the stream's info, live events, and its own consumer.
    stored = await js.get_msg("INTAKE", 1, direct=True)
    assert stored.subject == "evt.likang.intake.person.registered"
    assert (await js.get_msg("INTAKE", 1)).subject == stored.subject
    assert (await js.stream_info("INTAKE")).state.messages == 1
    live = await nc.subscribe("evt.>")
    await (await server.connect("intake")).publish("evt.likang.intake.case.opened", b"{}")
    assert (await live.next_msg(timeout=5)).subject == "evt.likang.intake.case.opened"
    own = await js.pull_subscribe("evt.*.intake.>", durable="dashboard", stream="INTAKE")
    assert len(await own.fetch(1, timeout=5)) == 1
    # Publishes nothing, changes nothing.
    assert await publish_denied(nc, errors, "evt.likang.intake.person.registered")
    assert await publish_denied(nc, errors, "cmd.likang.intake.register_person")
    assert await js_call_denied(js.delete_stream("INTAKE"))
    assert await js_call_denied(js.purge_stream("INTAKE"))
    assert await js_call_denied(js.update_stream(StreamConfig(name="INTAKE", subjects=["x.>"])))
    assert await js_call_denied(js.delete_msg("INTAKE", 1))
    # Nor can it take over a service's durable: create, change, read or delete it, by any of
    # the API's subjects (the server-named form takes a name in the body: not granted).
    groups = durable_name("groups", "intake", None)
    for config in (ConsumerConfig(durable_name=groups), ConsumerConfig(name=groups)):
        assert await js_call_denied(js.add_consumer("INTAKE", config))
    body = json.dumps({"stream_name": "INTAKE", "config": {"name": groups}}).encode()
    assert await js_call_denied(nc.request("$JS.API.CONSUMER.CREATE.INTAKE", body, timeout=SHORT))
    assert await js_call_denied(js.delete_consumer("INTAKE", groups))
    assert await js_call_denied(js.consumer_info("INTAKE", groups))
    admin = (await server.connect("admin")).jetstream()
    assert (await admin.stream_info("INTAKE")).state.messages == 2
    assert [c.name for c in await admin.consumers_info("INTAKE")] == ["dashboard"]


async def test_a_site_instance_cannot_touch_another_sites_subjects(server):
    errors: list[str] = []
    intake = await server.connect(user_name("intake", ("likang",)), errors)
    assert not await publish_denied(intake, errors, "evt.likang.intake.person.registered")
    assert await publish_denied(intake, errors, "evt.jinsha.intake.person.registered")
    assert await subscribe_denied(intake, errors, "cmd.jinsha.intake.*")
    assert await subscribe_denied(intake, errors, "qry.jinsha.intake.*")
    assert await subscribe_denied(intake, errors, "cmd.*.intake.*")
    assert not await subscribe_denied(intake, errors, "cmd.likang.intake.*")
    # An access request asks the others what they hold about a person, at its own site only.
    for holder in ("groups", "volunteers", "reporting"):
        assert not await publish_denied(intake, errors, f"qry.likang.{holder}.person_data")
        assert await publish_denied(intake, errors, f"qry.jinsha.{holder}.person_data")
    assert await publish_denied(intake, errors, "qry.likang.groups.roster")
    # The relay's look-up of old events in its own stream: its site's only.
    since = datetime.now(UTC) - timedelta(minutes=5)
    likang = ["evt.likang.intake.>"]
    found = await find_event_ids(intake, "INTAKE", ["e-1"], since=since, subjects=likang)
    assert found == {"e-1": 1}
    for subjects in (None, ["evt.jinsha.intake.>"]):
        assert await js_call_denied(
            asyncio.wait_for(
                find_event_ids(intake, "INTAKE", ["e-1"], since=since, subjects=subjects), SHORT
            )
        )

    group_errors: list[str] = []
    groups = await server.connect(user_name("groups", ("likang",)), group_errors)
    js = groups.jetstream(timeout=SHORT)
    # Its own durable, filtered to its site, yes; the every-site durable or another site's, no.
    own = durable_name("groups", "intake", ("likang",))
    await js.add_consumer(
        "INTAKE",
        ConsumerConfig(name=own, durable_name=own, filter_subject="evt.likang.intake.>"),
    )
    for other in (
        durable_name("groups", "intake", None),
        durable_name("groups", "intake", ("jinsha",)),
    ):
        assert await js_call_denied(js.add_consumer("INTAKE", ConsumerConfig(durable_name=other)))
    # It asks intake for names only at its own site.
    assert not await publish_denied(groups, group_errors, "qry.likang.intake.person")
    assert await publish_denied(groups, group_errors, "qry.jinsha.intake.person")
    assert await publish_denied(groups, group_errors, "qry.likang.intake.find_people")


async def test_the_client_asks_and_reads_but_publishes_no_event(server):
    errors: list[str] = []
    nc = await server.connect("client", errors)
    assert not await publish_denied(nc, errors, "cmd.jinsha.intake.register_person")
    assert not await publish_denied(nc, errors, "qry.likang.reporting.summary")
    assert await publish_denied(nc, errors, "evt.likang.intake.person.registered")
    assert await publish_denied(nc, errors, "dlq.intake.x")
    assert await subscribe_denied(nc, errors, "cmd.likang.intake.*")
    assert not await subscribe_denied(nc, errors, "evt.>")
    js = nc.jetstream(timeout=SHORT)
    own = await js.pull_subscribe("evt.*.intake.>", durable=CLIENT_CONSUMER, stream="INTAKE")
    assert [m.subject for m in await own.fetch(1, timeout=5)] == [
        "evt.likang.intake.person.registered"
    ]
    assert await js_call_denied(js.add_consumer("INTAKE", ConsumerConfig(name="other")))
    assert await js_call_denied(js.delete_stream("GROUPS"))
    assert await js_call_denied(js.stream_info("DLQ"))  # dead letters are the operator's


async def test_only_an_intake_instance_may_hand_a_case_to_another_sites_intake(server):
    client_errors: list[str] = []
    client = await server.connect("client", client_errors)
    for subject in ("cmd.icmhc.intake.receive_transfer", "cmd.likang.intake.receive_transfer"):
        assert await publish_denied(client, client_errors, subject), subject
    assert not await publish_denied(client, client_errors, "cmd.icmhc.intake.transfer_case")
    # A one-site intake sends it to any site; groups, serving likang too, to none.
    intake_errors: list[str] = []
    intake = await server.connect(user_name("intake", ("likang",)), intake_errors)
    assert not await publish_denied(intake, intake_errors, "cmd.icmhc.intake.receive_transfer")
    assert await publish_denied(intake, intake_errors, "cmd.icmhc.intake.register_person")
    groups_errors: list[str] = []
    groups = await server.connect(user_name("groups", ("likang",)), groups_errors)
    assert await publish_denied(groups, groups_errors, "cmd.likang.intake.receive_transfer")
