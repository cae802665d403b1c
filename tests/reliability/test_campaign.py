"""The campaign's CI subset: every scenario kind once, at CI size, against real processes.

One cluster (nats-server, PostgreSQL, the four services as OS processes) serves the whole
module; each test runs one scenario and asserts on its books: nothing lost, nothing doubled,
no crash, no hang, every reply of the contract's shape. Waits are bounded and generous, and
nothing is asserted on timing. ``python -m tests.reliability --full`` is the full run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.reliability.campaign import CI, Campaign, Row, table


@pytest.fixture(scope="module")
async def campaign(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Campaign]:
    root: Path = tmp_path_factory.mktemp("reliability")
    running = Campaign(root, CI, seed=7)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
        print("\n" + table(running.rows))


def assert_kept_its_promises(row: Row) -> None:
    assert row.lost == 0, table([row])
    assert row.doubled == 0, table([row])
    assert not row.problems, table([row])
    assert row.acknowledged > 0, table([row])


async def test_plain_load_balances_the_books(campaign: Campaign) -> None:
    assert_kept_its_promises(await campaign.plain())


@pytest.mark.parametrize("service", ["intake", "groups", "volunteers", "reporting"])
async def test_kill_9_of_a_service_during_load_loses_and_doubles_nothing(
    campaign: Campaign, service: str
) -> None:
    row = await campaign.kill(service)
    assert_kept_its_promises(row)
    assert row.recovery is not None


async def test_nats_stopped_during_load_loses_and_doubles_nothing(campaign: Campaign) -> None:
    row = await campaign.nats_outage()
    assert_kept_its_promises(row)
    assert row.recovery is not None


async def test_postgres_killed_during_load_loses_and_doubles_nothing(campaign: Campaign) -> None:
    row = await campaign.postgres_outage()
    assert_kept_its_promises(row)
    assert row.recovery is not None


async def test_reporting_stalled_during_load_catches_up_exactly(campaign: Campaign) -> None:
    row = await campaign.stall_reporting()
    assert_kept_its_promises(row)
    assert row.recovery is not None


async def test_poison_events_are_dead_lettered_and_later_events_applied(
    campaign: Campaign,
) -> None:
    assert_kept_its_promises(await campaign.poison())


async def test_every_fuzzed_request_gets_a_reply_of_the_contracts_shape(
    campaign: Campaign,
) -> None:
    row = await campaign.fuzz()
    assert row.sent > 1000, table([row])
    assert row.lost == 0, table([row])
    assert row.doubled == 0, table([row])
    assert not row.problems, table([row])


async def test_an_oversized_command_is_refused_and_groups_goes_on(campaign: Campaign) -> None:
    assert_kept_its_promises(await campaign.oversized())
