"""A duplicate merged into the person kept is one person in every figure, live and after a
rebuild, also for events about the duplicate that arrive after the merge."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from tests.conftest import ServiceClient, eventually
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
    # Named by the duplicate's id, before or after groups hears of the merge: Ah Ming.
    await a.attendance("likang", sessions[2], [duplicate], [])
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


async def test_groups_and_volunteers_move_the_duplicates_places_and_records_to_the_kept_person(
    nc, system
):
    a = Agency(nc)
    mum = await a.register("likang", "陳太", ["family_carer"], "2026-10-01")
    kept = await a.register("likang", "Ah Ming", ["person_in_recovery"], "2026-10-01")
    duplicate = await a.register("likang", "Ming", ["rehabilitee"], "2026-10-02")
    await a.link("likang", mum, duplicate, "parent", "2026-10-02")
    both = await a.programme(
        "likang", **programme("Recovery group", "support_group", "2026-10-05", "weekly", 2)
    )
    both_id = a.programme_id
    alone = await a.programme(
        "likang",
        **programme("Cooking class", "interest_class", "2026-10-06", "weekly", 2, venue="Kitchen"),
    )
    alone_id = a.programme_id
    for person in (kept, duplicate):
        await a.enrol("likang", both_id, person, "2026-10-04")
    await a.enrol("likang", alone_id, duplicate, "2026-10-04")
    await a.attendance("likang", alone[0], [duplicate], [])
    volunteer = await a.volunteer("likang", duplicate, ["family_volunteer_team"], "2026-10-06", [])

    staff = ServiceClient(nc, "intake", "likang", "sw-lee")
    await staff.ok("merge_people", duplicate_id=duplicate, into_id=kept, reason="twice")
    groups, volunteers = system["groups"].pool, system["volunteers"].pool
    assert groups is not None and volunteers is not None

    async def heard() -> bool:
        for pool in (groups, volunteers):
            async with pool.acquire() as conn:
                if not await conn.fetchval("SELECT count(*) FROM merged_people"):
                    return False
        return True

    await eventually(heard)
    async with groups.acquire() as conn:
        places = await conn.fetch(
            "SELECT programme_id::text, person_id::text, status FROM enrolments ORDER BY seq"
        )
        marked = await conn.fetch("SELECT person_id::text FROM attendance")
    assert [(p["programme_id"], p["person_id"], p["status"]) for p in places] == [
        (both_id, kept, "enrolled"),
        (both_id, duplicate, "withdrawn"),  # one place in one programme
        (alone_id, kept, "enrolled"),
    ]
    assert [m["person_id"] for m in marked] == [kept]
    # The duplicate's id, named in a command after the merge, means the kept person.
    groups_staff = ServiceClient(nc, "groups", "likang", "sw-lee")
    again = await groups_staff.cmd("enrol", programme_id=alone_id, person_id=duplicate)
    assert again.error.code == "conflict"
    await groups_staff.ok("record_attendance", session_id=alone[1], present=[duplicate])
    async with groups.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT person_id::text FROM attendance WHERE session_id = $1", alone[1]
            )
            == kept
        )

    async with volunteers.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT person_id::text FROM volunteers WHERE volunteer_id = $1", volunteer
            )
            == kept
        )
        links = await conn.fetch("SELECT carer_id::text, cared_for_id::text FROM carer_links")
        roles = await conn.fetchval("SELECT roles FROM known_people WHERE person_id = $1", kept)
    assert [(r["carer_id"], r["cared_for_id"]) for r in links] == [(mum, kept)]
    assert sorted(roles) == ["person_in_recovery", "rehabilitee"]
    coordinator = ServiceClient(nc, "volunteers", "likang", "vc-mak")
    twice = await coordinator.cmd(
        "register_volunteer", person_id=kept, teams=["family_volunteer_team"]
    )
    assert twice.error.code == "conflict"
    assert len(both) == 2


async def test_an_event_about_the_duplicate_arriving_after_the_merge_lands_on_the_kept_person(
    nc, system
):
    a = Agency(nc)
    kept = await a.register("likang", "Ah Ming", ["person_in_recovery"], "2026-10-01")
    duplicate = await a.register("likang", "Ming", ["rehabilitee"], "2026-10-02")
    staff = ServiceClient(nc, "intake", "likang", "sw-lee")
    await staff.ok("merge_people", duplicate_id=duplicate, into_id=kept, reason="twice")
    groups, volunteers = system["groups"].pool, system["volunteers"].pool
    assert groups is not None and volunteers is not None
    # As a site's stream might deliver them after the merge: a consent and a case about the
    # duplicate (head office sources each site's stream on its own).
    late_case = str(uuid4())
    for event_type, data in (
        (
            "consent.recorded",
            {
                "person_id": duplicate,
                "purpose": "service",
                "given": True,
                "recorded_on": "2026-10-03",
            },
        ),
        (
            "case.opened",
            {
                "case_id": late_case,
                "person_id": duplicate,
                "worker_id": "sw-lee",
                "roles": ["rehabilitee"],
                "kind": "new",
                "opened_on": "2026-10-03",
            },
        ),
    ):
        event_id = str(uuid4())
        body = {
            "id": event_id,
            "type": f"intake.{event_type}",
            "version": 1,
            "source": "intake/jinsha",
            "site": "jinsha",
            "time": datetime.now(UTC).isoformat(),
            "subject": data["person_id"],
            "correlation_id": event_id,
            "causation_id": None,
            "data": data,
        }
        await nc.jetstream().publish(
            f"evt.jinsha.intake.{event_type}",
            json.dumps(body).encode(),
            headers={"Nats-Msg-Id": event_id},
        )

    async def landed() -> bool:
        async with volunteers.acquire() as conn:
            consent = await conn.fetchval(
                "SELECT given FROM service_consent WHERE person_id = $1", kept
            )
        async with groups.acquire() as conn:
            case_of = await conn.fetchval(
                "SELECT person_id::text FROM open_cases WHERE case_id = $1", late_case
            )
        return bool(consent) and case_of == kept

    await eventually(landed)
    await settled(nc, system)
    figures = await _month(nc)
    assert figures["people_registered"]["total"] == 1
    assert figures["cases_opened"]["total"] == 1
