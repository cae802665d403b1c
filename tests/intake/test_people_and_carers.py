"""People are registered once, found by name or phone, and linked to the people they care for."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from tests.conftest import ServiceClient
from tests.intake.conftest import carer_and_person, intake_events


async def test_registering_a_person_publishes_roles_age_band_and_sex_only(staff, nc):
    result = await staff.ok(
        "register_person",
        preferred_name="陳太",
        roles=["family_carer", "volunteer"],
        sex="female",
        birth_year=1962,
        phone="91234567",
    )
    assert result["possible_duplicates"] == []
    [event] = await intake_events(nc, wait_for=1)
    assert event["type"] == "intake.person.registered"
    assert event["_subject"] == "evt.likang.intake.person.registered"
    assert event["subject"] == result["person_id"]
    data = event["data"]
    assert data["roles"] == ["family_carer", "volunteer"]
    assert data["age_band"] in {"55_64", "65_plus"}
    assert data["sex"] == "female"
    assert set(data) == {"person_id", "roles", "age_band", "sex", "registered_on"}


async def test_the_same_phone_and_birth_year_is_flagged_as_a_possible_duplicate(staff, intake):
    first = await staff.ok(
        "register_person",
        preferred_name="Mrs Chan",
        roles=["family_carer"],
        birth_year=1962,
        phone="+852 9123 4567",
    )
    again = await staff.cmd(
        "register_person",
        preferred_name="陳太",
        roles=["family_carer"],
        birth_year=1962,
        phone="9123-4567",
    )
    assert again.error.code == "conflict"
    assert [(d.field, d.message) for d in again.error.details] == [
        ("possible_duplicate", first["person_id"])
    ]
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM people") == 1

    anyway = await staff.ok(
        "register_person",
        preferred_name="陳太",
        roles=["family_carer"],
        birth_year=1962,
        phone="9123-4567",
        register_anyway=True,
    )
    assert anyway["possible_duplicates"] == [first["person_id"]]


async def test_the_same_name_and_birth_year_is_a_duplicate_only_at_the_same_site(staff):
    await staff.ok(
        "register_person", preferred_name="Ah Ming", roles=["person_in_recovery"], birth_year=1990
    )
    same_site = await staff.cmd(
        "register_person", preferred_name="ah ming", roles=["person_in_recovery"], birth_year=1990
    )
    assert same_site.error.code == "conflict"
    other_site = await staff.cmd(
        "register_person",
        site="jinsha",
        preferred_name="Ah Ming",
        roles=["person_in_recovery"],
        birth_year=1990,
    )
    assert other_site.ok
    other_year = await staff.cmd(
        "register_person", preferred_name="Ah Ming", roles=["person_in_recovery"], birth_year=1991
    )
    assert other_year.ok


async def test_bad_registrations_get_field_errors_and_create_nothing(staff, intake):
    reply = await staff.cmd(
        "register_person",
        preferred_name="",
        roles=["patient"],
        birth_year=1850,
        phone="call me",
    )
    assert reply.error.code == "validation_error"
    fields = {d.field for d in reply.error.details}
    assert {"preferred_name", "roles.0", "birth_year", "phone"} <= fields
    no_roles = await staff.cmd("register_person", preferred_name="X", roles=[])
    assert {d.field for d in no_roles.error.details} == {"roles"}
    future = await staff.cmd(
        "register_person",
        preferred_name="X",
        roles=["community_member"],
        on="2999-01-01",
    )
    assert future.error.code == "validation_error"
    assert future.error.details[0].field == "on"
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM people") == 0


async def test_people_are_found_by_part_of_a_chinese_or_latin_name_or_by_phone(staff):
    mother, son = await carer_and_person(staff)
    by_chinese = await staff.ok("qry:find_people", text="美玲")
    by_latin = await staff.ok("qry:find_people", text="ming")
    by_phone = await staff.ok("qry:find_people", text="9123 4567")
    assert [p["person_id"] for p in by_chinese["people"]] == [mother]
    assert [p["person_id"] for p in by_latin["people"]] == [son]
    assert [p["person_id"] for p in by_phone["people"]] == [mother]
    nobody = await staff.ok("qry:find_people", text="zz%")
    assert nobody["people"] == []


async def test_every_read_of_personal_data_is_in_the_access_log(staff):
    mother, _ = await carer_and_person(staff)
    worker_7 = ServiceClient(staff.nc, "intake", "likang", "worker-7")
    worker_8 = ServiceClient(staff.nc, "intake", "likang", "worker-8")
    record = await worker_7.ok("qry:person", person_id=mother)
    assert record["legal_name"] == "陳美玲"
    assert record["phone"] == "+852 9123 4567"
    await worker_8.ok("qry:find_people", text="陳")
    log = await staff.ok("qry:access_log", person_id=mother)
    assert [(e["actor"], e["what"]) for e in log["entries"]] == [
        ("worker-8", "find_people"),
        ("worker-7", "person"),
    ]
    assert all(e["person_id"] == mother and e["accessed_at"] for e in log["entries"])
    missing = await worker_7.qry("person", person_id=str(uuid4()))
    assert missing.error.code == "not_found"
    # Whoever the payload names, the reader is the token's sub.
    posing = await worker_7.qry("person", person_id=mother, actor="worker-8")
    assert posing.error.code == "not_allowed"


async def test_a_carer_is_linked_to_the_people_they_care_for(staff, nc):
    mother, son = await carer_and_person(staff)
    daughter = (
        await staff.ok(
            "register_person",
            preferred_name="Ah Fong",
            roles=["person_in_recovery"],
            birth_year=1994,
        )
    )["person_id"]
    father = (
        await staff.ok(
            "register_person", preferred_name="陳生", roles=["family_carer"], birth_year=1960
        )
    )["person_id"]
    await staff.ok("link_carer", carer_id=mother, cared_for_id=son, relationship="parent")
    await staff.ok("link_carer", carer_id=mother, cared_for_id=daughter, relationship="parent")
    await staff.ok("link_carer", carer_id=father, cared_for_id=son, relationship="parent")

    son_record = await staff.ok("qry:person", person_id=son)
    mother_record = await staff.ok("qry:person", person_id=mother)
    assert {c["person_id"] for c in son_record["carers"]} == {mother, father}
    assert {c["person_id"] for c in mother_record["cares_for"]} == {son, daughter}
    events = await intake_events(nc, wait_for=7)
    links = [e["data"] for e in events if e["type"] == "intake.carer.linked"]
    assert {(link["carer_id"], link["cared_for_id"], link["relationship"]) for link in links} == {
        (mother, son, "parent"),
        (mother, daughter, "parent"),
        (father, son, "parent"),
    }


async def test_carer_links_refuse_strangers_non_carers_self_links_and_repeats(staff):
    mother, son = await carer_and_person(staff)
    unknown = await staff.cmd(
        "link_carer", carer_id=str(uuid4()), cared_for_id=son, relationship="parent"
    )
    assert (unknown.error.code, unknown.error.details[0].field) == ("not_found", "carer_id")
    not_a_carer = await staff.cmd(
        "link_carer", carer_id=son, cared_for_id=mother, relationship="child"
    )
    assert not_a_carer.error.code == "not_allowed"
    self_link = await staff.cmd(
        "link_carer", carer_id=mother, cared_for_id=mother, relationship="other"
    )
    assert self_link.error.code == "validation_error"
    await staff.ok("link_carer", carer_id=mother, cared_for_id=son, relationship="parent")
    repeat = await staff.cmd("link_carer", carer_id=mother, cared_for_id=son, relationship="parent")
    assert repeat.error.code == "conflict"
    bad = await staff.cmd("link_carer", carer_id=mother, cared_for_id=son, relationship="aunt")
    assert bad.error.details[0].field == "relationship"


async def test_concurrent_registrations_of_different_people_all_succeed(staff, intake):
    replies = await asyncio.gather(
        *(
            staff.cmd("register_person", preferred_name=f"Member {i}", roles=["community_member"])
            for i in range(10)
        )
    )
    assert all(r.ok for r in replies)
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM people") == 10
