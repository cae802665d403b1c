"""Done when: a person who took part in everything is erased, and their personal data is
nowhere (any table of any service's schema, the access log naming only their id; any message
of any stream), while every figure stands, published or asked for, and after a rebuild."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from tests.bus.helpers import stream_messages
from tests.conftest import ServiceClient, eventually
from tests.identity import token_for
from tests.reporting.agency import Agency
from tests.reporting.conftest import settled, summary
from tests.reporting.scenario import programme
from tests.reporting.test_rebuild_and_replay import rebuild_cli

MANAGER = token_for("manager-likang", roles=["centre_manager"], sites=["likang"])
MONTH = "2026-11"


def _markers() -> dict[str, str]:
    tag = uuid4().hex[:8].upper()
    return {
        "name": f"Qiu Zhenmark{tag}",
        "legal": f"Qiu Legalmark{tag}",
        "duplicate": f"Qiu Dupmark{tag}",
        "duplicate_phone": "+852 6111 0" + str(int(tag, 16) % 1000).zfill(3),
        "phone": f"+852 5{tag[:1].translate(str.maketrans('ABCDEF', '123456'))}55 7319",
        "address": f"Flat {tag}, Markers Court",
        "referral": f"referred for REFMARK{tag}",
        "decision": f"accepted DECMARK{tag}",
        "merge": f"registered twice MERGEMARK{tag}",
        "note": f"NOTEMARK{tag} talked about the night shifts",
        "goal": f"GOALMARK{tag} sleep before midnight",
        "review": f"REVIEWMARK{tag} slept well",
        "end": f"ENDMARK{tag} done",
        "void_contact": f"VOIDCMARK{tag}",
        "void_assessment": f"VOIDAMARK{tag}",
        "activity": f"ACTMARK{tag} tea corner",
    }


async def _everything(nc: Any, agency: Agency, m: dict[str, str]) -> dict[str, str]:
    intake = ServiceClient(nc, "intake", "likang", "sw-lee")
    person = await intake.ok(
        "register_person",
        preferred_name=m["name"],
        legal_name=m["legal"],
        roles=["person_in_recovery"],
        sex="male",
        birth_year=1980,
        phone=m["phone"],
        language="yue",
        address=m["address"],
        on="2026-11-02",
    )
    pid = str(person["person_id"])
    agency.ledger.people[pid] = {"site": "likang", "roles": ["person_in_recovery"]}
    duplicate = await intake.ok(
        "register_person",
        preferred_name=m["duplicate"],
        roles=["person_in_recovery"],
        phone=m["duplicate_phone"],
        register_anyway=True,
        on="2026-11-02",
    )
    await intake.ok(
        "merge_people", duplicate_id=duplicate["person_id"], into_id=pid, reason=m["merge"]
    )
    other = await agency.register("likang", "Someone Else", ["person_in_recovery"], "2026-11-02")
    await agency.consent("likang", other, "service", True, "2026-11-02")
    referral = await intake.ok(
        "receive_referral", source="hospital", reason=m["referral"], person_id=pid, on="2026-11-02"
    )
    rid = referral["referral_id"]
    await intake.ok(
        "screen_referral", referral_id=rid, answers=[0, 2, 2, 0, 1, 1, 1], on="2026-11-02"
    )
    await intake.ok(
        "decide_referral",
        referral_id=rid,
        decision="accepted",
        reason=m["decision"],
        on="2026-11-03",
    )
    await agency.consent("likang", pid, "service", True, "2026-11-03")
    await agency.consent("likang", pid, "outcome_data", True, "2026-11-03")
    case = await intake.ok(
        "open_case", person_id=pid, worker_id="sw-lee", referral_id=rid, on="2026-11-03"
    )
    cid = case["case_id"]
    await intake.ok("add_case_note", case_id=cid, text=m["note"], on="2026-11-03")
    goal = await intake.ok("set_goal", case_id=cid, text=m["goal"], on="2026-11-03")
    await intake.ok(
        "review_goal",
        goal_id=goal["goal_id"],
        progress="on_track",
        note=m["review"],
        on="2026-11-09",
    )
    await intake.ok(
        "end_goal", goal_id=goal["goal_id"], outcome="met", note=m["end"], on="2026-11-16"
    )
    await intake.ok("log_contact", case_id=cid, mode="phone", minutes=30, on="2026-11-04")
    wrong = await intake.ok(
        "log_contact", case_id=cid, mode="home_visit", minutes=5, on="2026-11-04"
    )
    await intake.ok("void_contact", contact_id=wrong["contact_id"], reason=m["void_contact"])
    await agency.assess("likang", pid, "brs", "baseline", [3, 3, 3, 3, 3, 3], "2026-11-03")
    mistaken = await intake.ok(
        "record_assessment",
        person_id=pid,
        instrument="brs",
        timepoint="mid",
        answers=[1, 1, 1, 1, 1, 1],
        on="2026-11-05",
    )
    await intake.ok(
        "void_assessment", assessment_id=mistaken["assessment_id"], reason=m["void_assessment"]
    )
    # Groups: enrolled in a support group, present at its first session.
    sessions = await agency.programme(
        "likang",
        **programme(
            "Sleep and shifts",
            "support_group",
            "2026-11-05",
            "weekly",
            2,
            target_roles=["person_in_recovery"],
        ),
    )
    await agency.enrol("likang", agency.programme_id, pid, "2026-11-04")
    await agency.attendance("likang", sessions[0], [pid], [])
    # Volunteers: a peer supporter with hours, availability, a match and a contact.
    volunteers = ServiceClient(nc, "volunteers", "likang", "sw-lee")
    volunteer = await agency.volunteer(
        "likang", pid, ["peer_supporters"], "2026-11-05", ["peer_support_foundation"]
    )
    await volunteers.ok(
        "log_hours",
        volunteer_id=volunteer,
        team="peer_supporters",
        minutes=90,
        date="2026-11-06",
        activity=m["activity"],
    )
    await agency.available("likang", volunteer, 3)
    match = await agency.match("likang", volunteer, other, "2026-11-07")
    await agency.peer_contact("likang", match, "phone", 25, "2026-11-08")
    assert (await intake.ok("qry:person", person_id=pid))["preferred_name"] == m["name"]
    await intake.ok("close_case", case_id=cid, reason="goals_achieved", on="2026-11-20")
    return {"person_id": pid, "volunteer_id": volunteer}


async def _found_in_tables(system: dict[str, Any], texts: list[str]) -> list[str]:
    """Every (schema.table, marker) whose rows, as text, contain a marker: every table of every
    schema but PostgreSQL's own, whichever service's pool reaches it (one database)."""
    pool = system["intake"].pool
    found = []
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_type = 'BASE TABLE'
                 AND table_schema NOT IN ('pg_catalog', 'information_schema')"""
        )
        assert {t["table_schema"] for t in tables} >= {
            "intake",
            "groups",
            "volunteers",
            "reporting",
        }
        for table in tables:
            name = f'"{table["table_schema"]}"."{table["table_name"]}"'
            for text in texts:
                hits = await conn.fetchval(
                    f"SELECT count(*) FROM {name} t WHERE t::text ILIKE '%' || $1 || '%'", text
                )
                if hits:
                    found.append(f"{name}: {text}")
    return found


async def _found_in_streams(nc: Any, texts: list[str]) -> list[str]:
    js = nc.jetstream()
    found = []
    streams = await js.streams_info()
    assert {s.config.name for s in streams} >= {"INTAKE", "GROUPS", "VOLUNTEERS", "REPORTING"}
    for stream in streams:
        for msg in await stream_messages(nc, stream.config.name):
            body = (msg.data or b"").decode("utf-8", "replace").lower()
            headers = json.dumps(msg.headers or {}).lower()
            found += [f"{stream.config.name}: {t}" for t in texts if t.lower() in body + headers]
    return found


async def _figures(nc: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    exact = await summary(nc, "likang", MONTH, True)
    deidentified = await summary(nc, "likang", MONTH)
    return (
        {"figures": exact["figures"], "suppressed": exact["suppressed"]},
        {"figures": deidentified["figures"], "suppressed": deidentified["suppressed"]},
    )


async def test_an_erased_person_is_nowhere_and_every_figure_stands(
    nc, system, nats_url, database_url
):
    agency = Agency(nc)
    markers = _markers()
    ids = await _everything(nc, agency, markers)
    pid = ids["person_id"]
    await settled(nc, system)
    texts = [*markers.values(), markers["phone"].replace(" ", "")[-8:]]
    # Before: each marker is somewhere (so the search below finds what it looks for).
    before_tables = await _found_in_tables(system, texts)
    assert {hit.split(": ", 1)[1] for hit in before_tables} == set(texts)
    exact_before, deidentified_before = await _figures(nc)
    assert exact_before["figures"]["cases_opened"]["total"] >= 1
    reporting = ServiceClient(nc, "reporting", "likang")
    assert (await reporting.ok("publish_summary", month=MONTH))["published"] is True

    manager = ServiceClient(nc, "intake", "likang", "manager-likang", token=MANAGER)
    erased = await manager.ok("erase_person", person_id=pid, reason="asked for erasure")

    async def everyone_forgot() -> bool:
        for service in ("groups", "volunteers"):
            async with system[service].pool.acquire() as conn:
                if not await conn.fetchval(
                    "SELECT count(*) FROM erased_people WHERE person_id = $1", pid
                ):
                    return False
        return True

    await eventually(everyone_forgot, timeout=30)
    await settled(nc, system)

    assert await _found_in_tables(system, texts) == []
    assert await _found_in_streams(nc, texts) == []
    async with system["intake"].pool.acquire() as conn:
        # The access log stands (the law requires it), by id only.
        assert await conn.fetchval("SELECT count(*) FROM access_log WHERE person_id = $1", pid)
        assert (await conn.fetchrow("SELECT * FROM people WHERE person_id = $1", pid))[
            "erased_on"
        ].isoformat() == erased["erased_on"]
    async with system["groups"].pool.acquire() as conn:
        known = "SELECT count(*) FROM known_people WHERE person_id = $1"
        assert await conn.fetchval(known, pid) == 0
        # The enrolment and attendance stay, by id: the figures count them.
        assert await conn.fetchval("SELECT count(*) FROM attendance WHERE person_id = $1", pid)
    async with system["volunteers"].pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT skills, languages, active FROM volunteers WHERE volunteer_id = $1",
            ids["volunteer_id"],
        )
        assert dict(row) == {"skills": [], "languages": [], "active": False}
        for table in ("availability", "known_people"):
            key = "volunteer_id" if table == "availability" else "person_id"
            value = ids["volunteer_id"] if table == "availability" else pid
            assert not await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {key} = $1", value)

    # Every figure stands: asked for now, as published, and after a rebuild.
    exact_after, deidentified_after = await _figures(nc)
    assert exact_after == exact_before
    assert deidentified_after == deidentified_before
    published = [
        json.loads(m.data)["data"]
        for m in await stream_messages(nc, "REPORTING")
        if json.loads(m.data)["type"] == "reporting.summary.published"
    ]
    assert [p["figures"] for p in published] == [deidentified_before["figures"]]
    code, _, err = await rebuild_cli(nats_url, database_url)
    assert code == 0, err
    await settled(nc, system)
    assert await _figures(nc) == (exact_before, deidentified_before)
