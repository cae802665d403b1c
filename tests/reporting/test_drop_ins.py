"""People who drop in without enrolling count like anyone present, live and after a rebuild."""

from __future__ import annotations

from typing import Any

from tests.reporting.agency import Agency
from tests.reporting.conftest import ask, settled, summary
from tests.reporting.test_rebuild_and_replay import rebuild_cli

LOW, HIGH = [2, 4, 2, 4, 2, 4], [4, 2, 4, 2, 4, 2]  # BRS 2.0 and 4.0


def _counted(by: dict[str, int]) -> dict[str, int]:
    return {key: n for key, n in by.items() if n}


async def _figures_and_what_works(nc) -> tuple[dict[str, Any], dict[str, Any]]:
    figures = (await summary(nc, "likang", "2026-11", exact=True))["figures"]
    reply = await ask(nc, "outcomes", "likang", instrument="brs", period="2026-11", exact=True)
    assert reply.ok and reply.result is not None, reply.error
    return figures, reply.result


async def test_drop_ins_are_credited_in_every_figure_and_in_what_works_and_after_a_rebuild(
    nc, system, nats_url, database_url
):
    agency = Agency(nc)
    carers = [
        await agency.register("likang", f"Carer {i}", ["family_carer"], "2026-11-01")
        for i in range(6)
    ]
    for carer in carers:
        await agency.consent("likang", carer, "outcome_data", True, "2026-11-01")
        await agency.assess("likang", carer, "brs", "baseline", LOW, "2026-11-02")
        await agency.assess("likang", carer, "brs", "post", HIGH, "2026-11-28")
    [talk] = await agency.programme(
        "likang",
        title="Talk on caring for a family member",
        type="psychoeducation_talk",
        capacity=0,
        tags=["carer_support"],
        venue="Street office hall",
        facilitators=["sw-ho"],
        schedule={
            "first_date": "2026-11-10",
            "start_time": "19:00",
            "duration_min": 90,
            "repeat": "once",
        },
    )
    group = await agency.programme(
        "likang",
        title="Family support group",
        type="support_group",
        target_roles=["family_carer"],
        capacity=2,
        tags=["trauma_informed"],
        venue="Activity room 1",
        facilitators=["sw-lee"],
        schedule={
            "first_date": "2026-11-03",
            "start_time": "14:30",
            "duration_min": 90,
            "repeat": "weekly",
            "count": 2,
        },
    )
    await agency.enrol("likang", agency.programme_id, carers[0], "2026-11-01")
    groups = agency._client("groups", "likang")
    await groups.ok("record_attendance", session_id=talk, dropped_in=carers[1:], walk_ins=20)
    await groups.ok(
        "record_attendance", session_id=group[0], present=[carers[0]], dropped_in=[carers[1]]
    )
    await groups.ok("record_attendance", session_id=group[1], present=[carers[0]])
    await settled(nc, system)

    figures, outcomes = await _figures_and_what_works(nc)
    assert figures["sessions_held"]["total"] == 3
    assert figures["attendances"]["total"] == 28
    assert _counted(figures["attendances"]["by"]["type"]) == {
        "psychoeducation_talk": 25,
        "support_group": 3,
    }
    assert figures["unique_participants"]["total"] == 6
    assert _counted(figures["unique_participants"]["by"]["role"]) == {"family_carer": 6}
    assert figures["enrolments"]["total"] == 1
    talks = outcomes["what_works"]["programme_type"]["psychoeducation_talk"]["attended"]
    assert talks == {
        "n_paired": 5,
        "mean_baseline": 2.0,
        "mean_latest": 4.0,
        "mean_change": 2.0,
        "pct_improved": 100.0,
    }
    assert outcomes["what_works"]["tag"]["carer_support"]["attended"]["n_paired"] == 5

    code, _, err = await rebuild_cli(nats_url, database_url)
    assert code == 0, err
    assert await _figures_and_what_works(nc) == (figures, outcomes)
