"""A person registered twice is merged into the record kept: one person from then on."""

from __future__ import annotations

from tests.conftest import ServiceClient
from tests.identity import token_for
from tests.intake.conftest import carer_and_person, intake_events


async def _twice(staff: ServiceClient) -> tuple[str, str]:
    """Ah Ming registered, then registered again anyway (a different phone, a nickname)."""
    kept = await staff.ok(
        "register_person",
        preferred_name="Ah Ming",
        roles=["person_in_recovery"],
        birth_year=1990,
        register_anyway=True,
    )
    duplicate = await staff.ok(
        "register_person",
        preferred_name="Ming",
        roles=["rehabilitee"],
        birth_year=1990,
        phone="+852 6000 2222",
        register_anyway=True,
    )
    return duplicate["person_id"], kept["person_id"]


async def test_a_merge_moves_the_duplicates_records_to_the_kept_person_and_says_only_ids(
    staff, nc, intake
):
    mother, _ = await carer_and_person(staff)
    duplicate, kept = await _twice(staff)
    await staff.ok("link_carer", carer_id=mother, cared_for_id=duplicate, relationship="parent")
    await staff.ok("record_consent", person_id=duplicate, purpose="service", given=True)
    case = await staff.ok("open_case", person_id=duplicate, worker_id="sw-lee")
    await staff.ok(
        "record_assessment",
        person_id=duplicate,
        instrument="brs",
        timepoint="baseline",
        answers=[4, 2, 4, 2, 4, 2],
    )

    merged = await staff.ok(
        "merge_people", duplicate_id=duplicate, into_id=kept, reason="registered twice"
    )

    assert merged == {
        "duplicate_id": duplicate,
        "into_id": kept,
        "roles": ["person_in_recovery", "rehabilitee"],
    }
    record = await staff.ok("qry:person", person_id=kept)
    assert record["merged_from"] == [duplicate]
    assert record["roles"] == ["person_in_recovery", "rehabilitee"]
    assert record["carers"] == [{"person_id": mother, "relationship": "parent"}]
    assert [c["case_id"] for c in record["cases"]] == [case["case_id"]]
    # The duplicate's id still finds the person: the kept record answers.
    assert (await staff.ok("qry:person", person_id=duplicate))["person_id"] == kept
    consent = await staff.ok("qry:consent", person_id=duplicate)
    assert consent["person_id"] == kept and consent["current"]["service"] is True
    async with intake.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM assessments WHERE person_id = $1", kept) == 1
        )
        assert (
            await conn.fetchval(
                "SELECT reason FROM person_merges WHERE duplicate_id = $1", duplicate
            )
            == "registered twice"
        )
    found = await staff.ok("qry:find_people", text="Ming")
    assert duplicate not in {p["person_id"] for p in found["people"]}

    events = await intake_events(nc, wait_for=9)
    [event] = [e for e in events if e["type"] == "intake.person.merged"]
    assert event["_subject"] == "evt.likang.intake.person.merged"
    assert event["subject"] == duplicate
    assert set(event["data"]) == {"duplicate_id", "into_id", "roles", "merged_on"}


async def test_a_merged_duplicate_takes_no_new_records_and_the_refusal_names_the_kept_person(
    staff,
):
    duplicate, kept = await _twice(staff)
    await staff.ok("merge_people", duplicate_id=duplicate, into_id=kept, reason="twice")

    consent = await staff.cmd("record_consent", person_id=duplicate, purpose="service", given=True)
    assert consent.error.code == "conflict"
    assert [(d.field, d.message) for d in consent.error.details] == [
        ("person_id", f"merged into {kept}")
    ]
    again = await staff.cmd("merge_people", duplicate_id=duplicate, into_id=kept, reason="twice")
    assert again.error.code == "conflict"
    backwards = await staff.cmd("merge_people", duplicate_id=kept, into_id=duplicate, reason="x")
    assert backwards.error.code == "conflict"
    assert backwards.error.details[0].field == "into_id"


async def test_two_open_cases_at_one_site_refuse_the_merge_and_change_nothing(staff, nc, intake):
    duplicate, kept = await _twice(staff)
    cases = {}
    for person in (duplicate, kept):
        await staff.ok("record_consent", person_id=person, purpose="service", given=True)
        cases[person] = (await staff.ok("open_case", person_id=person, worker_id="sw-lee"))[
            "case_id"
        ]

    refused = await staff.cmd("merge_people", duplicate_id=duplicate, into_id=kept, reason="x")

    assert refused.error.code == "conflict"
    assert refused.error.message.endswith("close one of them first")
    assert [(d.field, d.message) for d in refused.error.details] == [
        ("case_id", f"{cases[duplicate]} and {cases[kept]} at likang")
    ]
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM people WHERE merged_into IS NULL") == 2
        assert (
            await conn.fetchval(
                "SELECT person_id::text FROM cases WHERE case_id = $1", cases[duplicate]
            )
            == duplicate
        )
    # Once one case is closed, the merge goes through and the closed case moves too.
    await staff.ok("close_case", case_id=cases[duplicate], reason="other")
    await staff.ok("merge_people", duplicate_id=duplicate, into_id=kept, reason="x")
    record = await staff.ok("qry:person", person_id=kept)
    assert {c["case_id"] for c in record["cases"]} == set(cases.values())


async def test_a_link_between_the_two_records_or_one_the_kept_person_has_goes(staff, intake):
    mother, son = await carer_and_person(staff)
    duplicate_mother = (
        await staff.ok(
            "register_person",
            preferred_name="Mrs Chan",
            roles=["family_carer"],
            birth_year=1962,
            register_anyway=True,
        )
    )["person_id"]
    await staff.ok("link_carer", carer_id=mother, cared_for_id=son, relationship="parent")
    await staff.ok("link_carer", carer_id=duplicate_mother, cared_for_id=son, relationship="parent")
    await staff.ok(
        "link_carer", carer_id=duplicate_mother, cared_for_id=mother, relationship="other"
    )

    await staff.ok("merge_people", duplicate_id=duplicate_mother, into_id=mother, reason="x")

    async with intake.pool.acquire() as conn:
        links = await conn.fetch("SELECT carer_id, cared_for_id FROM carer_links")
    assert [(str(r["carer_id"]), str(r["cared_for_id"])) for r in links] == [(mother, son)]


async def test_merge_refusals_for_bad_input(staff, nc):
    duplicate, kept = await _twice(staff)
    itself = await staff.cmd("merge_people", duplicate_id=kept, into_id=kept, reason="x")
    assert itself.error.code == "validation_error"
    unknown = await staff.cmd(
        "merge_people",
        duplicate_id=duplicate,
        into_id="00000000-0000-0000-0000-000000000001",
        reason="x",
    )
    assert unknown.error.code == "not_found"
    # A site that does not know the two records cannot merge them.
    jinsha = ServiceClient(
        nc,
        "intake",
        "jinsha",
        "sw-jin",
        token=token_for("sw-jin", roles=["social_worker"], sites=["jinsha"]),
    )
    elsewhere = await jinsha.cmd("merge_people", duplicate_id=duplicate, into_id=kept, reason="x")
    assert elsewhere.error.code == "not_found"


async def test_only_the_sites_caseworkers_may_merge(staff, nc, intake):
    duplicate, kept = await _twice(staff)
    for role in ("volunteer_coordinator", "analyst", "peer_supporter", "operator"):
        outsider = ServiceClient(
            nc,
            "intake",
            "likang",
            "vc-mak",
            token=token_for("vc-mak", roles=[role], sites=["likang"]),
        )
        refused = await outsider.cmd(
            "merge_people", duplicate_id=duplicate, into_id=kept, reason="x"
        )
        assert refused.error.code == "forbidden", role
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM person_merges") == 0
    manager = ServiceClient(
        nc,
        "intake",
        "likang",
        "mgr-wong",
        token=token_for("mgr-wong", roles=["centre_manager"], sites=["likang"]),
    )
    await manager.ok("merge_people", duplicate_id=duplicate, into_id=kept, reason="x")
