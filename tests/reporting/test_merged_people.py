"""A duplicate merged into the person kept is one person in every figure, live and after a
rebuild, also for events about the duplicate that arrive after the merge."""

from __future__ import annotations

from typing import Any

from tests.conftest import ServiceClient
from tests.reporting.agency import Agency
from tests.reporting.conftest import settled, summary
from tests.reporting.scenario import programme
from tests.reporting.test_rebuild_and_replay import rebuild_cli

BRS_LOW, BRS_HIGH = [2, 4, 2, 4, 2, 4], [4, 2, 4, 2, 4, 2]


async def _month(nc) -> dict[str, Any]:
    return (await summary(nc, "likang", "2026-10", exact=True))["figures"]


async def test_every_figure_counts_a_merged_duplicate_once_and_a_rebuild_agrees(
    nc, system, nats_url, database_url
):
    a = Agency(nc)
    kept = await a.register("likang", "Ah Ming", ["person_in_recovery"], "2026-10-01")
    duplicate = await a.register("likang", "Ming", ["rehabilitee"], "2026-10-02")
    for person in (kept, duplicate):
        await a.consent("likang", person, "outcome_data", True, "2026-10-02")
    # The baseline was taken on one record, the later score on the other.
    await a.assess("likang", duplicate, "brs", "baseline", BRS_LOW, "2026-10-03")
    await a.assess("likang", kept, "brs", "post", BRS_HIGH, "2026-10-28")
    sessions = await a.programme(
        "likang", **programme("Recovery group", "support_group", "2026-10-05", "weekly", 3)
    )
    for person in (kept, duplicate):
        await a.enrol("likang", a.programme_id, person, "2026-10-04")
    await a.attendance("likang", sessions[0], [duplicate], [kept])
    await a.attendance("likang", sessions[1], [kept, duplicate], [])
    volunteers = [
        await a.volunteer("likang", person, ["family_volunteer_team"], "2026-10-06", [])
        for person in (kept, duplicate)
    ]
    for volunteer in volunteers:
        await a.log_hours("likang", volunteer, "family_volunteer_team", 60, "2026-10-07")
    await settled(nc, system)
    twice = await _month(nc)
    assert twice["people_registered"]["total"] == 2
    assert twice["unique_participants"]["total"] == 2

    staff = ServiceClient(nc, "intake", "likang", "sw-lee")
    await staff.ok("merge_people", duplicate_id=duplicate, into_id=kept, reason="twice")
    # Groups took this record before it heard of the merge: it still counts for Ah Ming.
    await a.attendance("likang", sessions[2], [duplicate], [kept])
    await settled(nc, system)
    once = await _month(nc)

    assert once["people_registered"]["total"] == 1
    assert once["people_registered"]["by"]["role"]["rehabilitee"] == 1
    assert once["people_registered"]["by"]["role"]["person_in_recovery"] == 1
    assert once["unique_participants"]["total"] == 1
    assert once["unique_participants"]["by"]["role"]["rehabilitee"] == 1
    assert once["attendances"]["total"] == 3  # one person at each of three sessions
    assert once["volunteers_active"]["total"] == 1
    assert once["volunteer_hours"]["total"] == 2.0  # hours are amounts: both entries stand
    assert once["outcomes"]["brs"]["n_paired"] == 1

    code, _, err = await rebuild_cli(nats_url, database_url)
    assert code == 0, err
    assert await _month(nc) == once
