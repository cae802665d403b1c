"""Erasure: a centre manager erases a person's personal data; intake keeps a tombstone, tells
the other services by id, and the retention rule erases people with nothing going on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from services.intake import retention
from services.intake.app import build
from shared.agency.sites import DEMO_ORGANISATION, Retention, load_organisation
from tests.conftest import ServiceClient, eventually
from tests.identity import token_for
from tests.intake.conftest import FAST_HANDOFFS, intake_events

MANAGER = token_for("manager-likang", roles=["centre_manager"], sites=["likang"])
WORKER = token_for("sw-lee", roles=["social_worker"], sites=["likang"])
ELSEWHERE = token_for("manager-jinsha", roles=["centre_manager"], sites=["jinsha"])


async def _person_with_a_record(staff: ServiceClient) -> dict[str, str]:
    """Someone with a closed case: a referral and its screening, notes, a goal and reviews,
    a contact and an assessment voided with reasons."""
    person = await staff.ok(
        "register_person",
        preferred_name="Wing Erase-Me",
        legal_name="Lau Wing-Erase",
        roles=["person_in_recovery"],
        sex="female",
        birth_year=1971,
        phone="+852 5550 7311",
        language="yue",
        address="Flat 9, Erased Court",
    )
    pid = person["person_id"]
    referral = await staff.ok(
        "receive_referral", source="hospital", reason="Referral text about Wing", person_id=pid
    )
    rid = referral["referral_id"]
    await staff.ok("screen_referral", referral_id=rid, answers=[0, 2, 2, 0, 1, 1, 1])
    await staff.ok("decide_referral", referral_id=rid, decision="accepted", reason="Wing fits")
    await staff.ok("record_consent", person_id=pid, purpose="service", given=True)
    case = await staff.ok("open_case", person_id=pid, worker_id="sw-lee", referral_id=rid)
    cid = case["case_id"]
    await staff.ok("add_case_note", case_id=cid, text="Wing spoke about her brother")
    goal = await staff.ok("set_goal", case_id=cid, text="Wing walks to the market")
    await staff.ok(
        "review_goal", goal_id=goal["goal_id"], progress="on_track", note="Wing walked twice"
    )
    contact = await staff.ok("log_contact", case_id=cid, mode="phone", minutes=20)
    await staff.ok("void_contact", contact_id=contact["contact_id"], reason="Wing's sister")
    assessed = await staff.ok(
        "record_assessment",
        person_id=pid,
        instrument="brs",
        timepoint="baseline",
        answers=[3, 3, 3, 3, 3, 3],
    )
    await staff.ok(
        "void_assessment", assessment_id=assessed["assessment_id"], reason="Wing's answers mixed"
    )
    return {"person_id": pid, "case_id": cid, "referral_id": rid, "goal_id": goal["goal_id"]}


async def test_a_manager_erases_a_person_and_intake_keeps_only_a_tombstone(staff, nc, intake):
    record = await _person_with_a_record(staff)
    pid = record["person_id"]
    manager = ServiceClient(nc, "intake", "likang", "manager-likang", token=MANAGER)

    # A social worker may not erase; a manager of another site does not know the person.
    refused = await ServiceClient(nc, "intake", "likang", "sw-lee", token=WORKER).cmd(
        "erase_person", person_id=pid, reason="asked to"
    )
    assert refused.error is not None and refused.error.code == "forbidden"
    elsewhere = await ServiceClient(nc, "intake", "jinsha", "manager-jinsha", token=ELSEWHERE).cmd(
        "erase_person", person_id=pid, reason="asked to"
    )
    assert elsewhere.error is not None and elsewhere.error.code == "not_found"
    # Not while the case runs.
    running = await manager.cmd("erase_person", person_id=pid, reason="asked to")
    assert running.error is not None and running.error.code == "conflict"
    assert (await staff.ok("qry:person", person_id=pid))["preferred_name"] == "Wing Erase-Me"

    await staff.ok("close_case", case_id=record["case_id"], reason="moved_away")
    erased = await manager.ok("erase_person", person_id=pid, reason="the person asked (PDPO)")
    assert erased == {"person_id": pid, "erased_on": date.today().isoformat()}
    # Again, with another command id: the same answer, and no second event.
    assert await manager.ok("erase_person", person_id=pid, reason="again") == erased

    shown = await staff.ok("qry:person", person_id=pid)
    assert shown["erased"] is True and shown["erased_on"] == erased["erased_on"]
    assert "preferred_name" not in shown and "phone" not in shown
    assert [c["case_id"] for c in shown["cases"]] == [record["case_id"]]
    record_read = await staff.ok("qry:case_record", case_id=record["case_id"])
    assert [n["text"] for n in record_read["notes"]] == [None]
    assert record_read["goals"][0]["text"] is None
    assert record_read["goals"][0]["reviews"][0]["note"] is None
    assert record_read["screenings"][0]["answers"] == []
    assert (await staff.ok("qry:find_people", text="Wing"))["people"] == []
    assert (await staff.ok("qry:find_people", text="5550 7311"))["people"] == []

    # Nothing new about them: no correction, no case, no late note.
    for name, fields in (
        ("update_person", {"person_id": pid, "preferred_name": "Wing"}),
        ("open_case", {"person_id": pid, "worker_id": "sw-lee"}),
        ("add_case_note", {"case_id": record["case_id"], "text": "late"}),
        ("review_goal", {"goal_id": record["goal_id"], "progress": "setback"}),
        (
            "receive_transfer",
            {
                "person_id": pid,
                "person": {
                    "site": "icmhc",
                    "preferred_name": "Wing Erase-Me",
                    "roles": ["person_in_recovery"],
                    "registered_on": "2026-01-05",
                },
                "from_site": "icmhc",
                # Consent to share given: what refuses it is the erasure, nothing else.
                "consents": [
                    {
                        "consent_id": str(uuid4()),
                        "purpose": purpose,
                        "given": True,
                        "recorded_on": date.today().isoformat(),
                        "recorded_by": "sw-lee",
                        "recorded_at": datetime.now(UTC).isoformat(),
                        "site": "icmhc",
                    }
                    for purpose in ("service", "data_sharing")
                ],
                "from_case_id": str(uuid4()),
                "worker_id": "sw-lee",
                "transferred_on": date.today().isoformat(),
            },
        ),
    ):
        reply = await staff.cmd(name, **fields)
        assert reply.error is not None and reply.error.code == "conflict", (name, reply)

    assert intake is not None and intake.pool is not None
    async with intake.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM people WHERE person_id = $1", pid)
        assert row["erasure_reason"] == "the person asked (PDPO)"
        personal = ("preferred_name", "legal_name", "sex", "birth_year", "phone", "phone_digits")
        assert all(row[f] is None for f in (*personal, "language", "address"))
        assert row["roles"] == ["person_in_recovery"] and row["registered_on"] is not None
        assert row["site"] == "likang"  # the refused transfer registered nobody again
        texts = await conn.fetchval(
            """SELECT count(*) FROM (
                   SELECT t::text AS s FROM referrals t UNION ALL
                   SELECT t::text FROM case_notes t UNION ALL SELECT t::text FROM goals t
                   UNION ALL SELECT t::text FROM goal_reviews t
                   UNION ALL SELECT t::text FROM case_contacts t
                   UNION ALL SELECT t::text FROM assessments t
                   UNION ALL SELECT t::text FROM command_log t
                   UNION ALL SELECT t::text FROM outbox t) x
               WHERE s ILIKE '%wing%'"""
        )
        assert texts == 0
        erased_events = "SELECT count(*) FROM outbox WHERE body LIKE '%intake.person.erased%'"
        assert await conn.fetchval(erased_events) == 1
        # The access log stands, as the law requires: it names the reads by id.
        assert await conn.fetchval("SELECT count(*) FROM access_log WHERE person_id = $1", pid)

    erasures = await eventually(_erasures(nc))
    assert [e["data"] for e in erasures] == [{"person_id": pid, "erased_on": erased["erased_on"]}]


def _erasures(nc: Any) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def published() -> list[dict[str, Any]]:
        events = await intake_events(nc)
        return [e for e in events if e["type"] == "intake.person.erased"]

    return published


async def _with_retention(tmp_path: Path, days: int) -> Path:
    sites = tmp_path / "sites.toml"
    rule = f"\n[retention]\npersonal_data_days = {days}\n"
    sites.write_text(DEMO_ORGANISATION.read_text(encoding="utf-8") + rule, encoding="utf-8")
    return sites


async def test_the_retention_rule_erases_people_with_nothing_going_on_once_a_day(
    start_service, nc, tmp_path
):
    sites = await _with_retention(tmp_path, 30)
    intake = await start_service(("intake", build), CARENET_CONFIG=str(sites), **FAST_HANDOFFS)
    assert intake.settings.organisation.retention == Retention(personal_data_days=30)
    staff = ServiceClient(nc, "intake", "likang")
    manager = ServiceClient(nc, "intake", "likang", "manager-likang", token=MANAGER)

    async def likang_runs() -> list[dict]:
        shown = await manager.ok("qry:retention_runs")
        return [r for r in shown["runs"] if r["site"] == "likang"]

    # The service's own job makes today's run as it starts (nobody to erase yet).
    today = date.today()
    first = await eventually(likang_runs)
    assert [(r["run_on"], r["erased"], r["erased_people"]) for r in first] == [
        (today.isoformat(), 0, [])
    ]

    long_ago = (today - timedelta(days=100)).isoformat()

    async def register(name: str, on: str) -> str:
        done = await staff.ok("register_person", preferred_name=name, roles=["family_carer"], on=on)
        return str(done["person_id"])

    quiet = await register("Quiet Old-Timer", long_ago)
    served = await register("Still Served", long_ago)
    await staff.ok("record_consent", person_id=served, purpose="service", given=True, on=long_ago)
    await staff.ok("open_case", person_id=served, worker_id="sw-lee", on=long_ago)
    recent = await register("New Comer", today.isoformat())

    # Tomorrow, two replicas' jobs at once: exactly one erases.
    tomorrow = today + timedelta(days=1)
    runs = await asyncio.gather(
        retention.apply_due(intake, tomorrow), retention.apply_due(intake, tomorrow)
    )
    made = [run for found in runs for run in found if run.site == "likang"]
    assert len(made) == 1 and [str(p) for p in made[0].erased] == [quiet]
    assert made[0].cutoff == tomorrow - timedelta(days=30)
    assert await retention.apply_due(intake, tomorrow) == []  # the day's runs are done

    assert (await staff.ok("qry:person", person_id=quiet))["erased"] is True
    for kept in (served, recent):
        assert "erased" not in await staff.ok("qry:person", person_id=kept)
    latest = (await likang_runs())[0]
    assert latest["run_on"] == tomorrow.isoformat()
    assert latest["erased"] == 1 and latest["erased_people"] == [quiet]
    forbidden = await ServiceClient(nc, "intake", "likang", "sw-lee", token=WORKER).qry(
        "retention_runs"
    )
    assert forbidden.error is not None and forbidden.error.code == "forbidden"
    # The day after erases nobody new (the served person's case runs; the newcomer is new).
    after = await retention.apply_due(intake, tomorrow + timedelta(days=1))
    assert [run.erased for run in after if run.site == "likang"] == [[]]

    erasures = await eventually(_erasures(nc))
    assert [e["data"]["person_id"] for e in erasures] == [quiet]


def test_the_retention_cut_off_counts_years_and_days() -> None:
    assert Retention().cutoff(date(2026, 12, 3)) is None
    assert Retention(personal_data_years=7).cutoff(date(2026, 12, 3)) == date(2019, 12, 3)
    assert Retention(personal_data_years=1).cutoff(date(2028, 2, 29)) == date(2027, 2, 28)
    both = Retention(personal_data_years=1, personal_data_days=30)
    assert both.cutoff(date(2026, 12, 3)) == date(2026, 11, 3)


def test_a_retention_rule_out_of_bounds_stops_the_sites_file_with_the_reason(tmp_path):
    sites = tmp_path / "sites.toml"
    demo = DEMO_ORGANISATION.read_text(encoding="utf-8")
    for rule, reason in (
        ("personal_data_years = 0", "retention.personal_data_years"),
        ("personal_data_month = 3", "retention.personal_data_month"),
    ):
        sites.write_text(f"{demo}\n[retention]\n{rule}\n", encoding="utf-8")
        with pytest.raises(ValueError, match=reason):
            load_organisation(sites)
