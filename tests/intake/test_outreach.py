"""Outreach counts: a street programme counts the people it met who are not registered."""

from __future__ import annotations

from shared.kit.contracts.intake import OutreachLogged
from tests.conftest import ServiceClient
from tests.identity import token_for
from tests.intake.conftest import intake_events


async def test_outreach_is_logged_as_a_count_with_no_one_named(nc, intake):
    street = ServiceClient(
        nc, "intake", "nanyuan", "sw-ko", token=token_for("sw-ko", roles=["social_worker"])
    )
    result = await street.ok("log_outreach", count=14, mode="street", minutes=120, on="2026-10-09")
    no_minutes = await street.ok("log_outreach", count=3, mode="estate")

    events = await intake_events(nc, wait_for=2)
    assert [e["type"] for e in events] == ["intake.outreach.logged"] * 2
    first = OutreachLogged.model_validate(events[0]["data"])
    assert str(first.outreach_id) == result["outreach_id"]
    assert (first.count, first.mode, first.minutes, str(first.outreach_on)) == (
        14,
        "street",
        120,
        "2026-10-09",
    )
    assert events[0]["_subject"] == "evt.nanyuan.intake.outreach.logged"
    assert set(events[1]["data"]) == {"outreach_id", "count", "mode", "minutes", "outreach_on"}
    assert events[1]["data"]["minutes"] is None
    async with intake.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT site, count, logged_by FROM outreach_contacts WHERE outreach_id = $1",
            first.outreach_id,
        )
        assert dict(row) == {"site": "nanyuan", "count": 14, "logged_by": "sw-ko"}
        assert await conn.fetchval(
            "SELECT count(*) FROM outreach_contacts WHERE outreach_id = $1::uuid",
            no_minutes["outreach_id"],
        )


async def test_a_caller_who_may_not_log_outreach_is_refused_and_nothing_is_kept(nc, intake):
    coordinator = ServiceClient(
        nc,
        "intake",
        "likang",
        "vc-mak",
        token=token_for("vc-mak", roles=["volunteer_coordinator"], sites=["likang"]),
    )
    refused = await coordinator.cmd("log_outreach", count=5, mode="street")
    assert refused.error is not None and refused.error.code == "forbidden"
    other_centre = ServiceClient(
        nc,
        "intake",
        "likang",
        "sw-x",
        token=token_for("sw-x", roles=["social_worker"], sites=["icmhc"]),
    )
    refused = await other_centre.cmd("log_outreach", count=5, mode="street")
    assert refused.error is not None and refused.error.code == "forbidden"
    staff = ServiceClient(nc, "intake", "likang")
    for bad in ({"count": 0}, {"count": 5, "mode": "bus"}, {"count": 5, "minutes": 0}):
        reply = await staff.cmd("log_outreach", **{"mode": "street", **bad})
        assert reply.error is not None and reply.error.code == "validation_error", bad
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outreach_contacts") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
