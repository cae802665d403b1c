"""Corrections (a person's record, a waitlisted referral, a case's worker, contacts and
assessments voided) and intake's worklists, against real servers."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from tests.conftest import ServiceClient
from tests.identity import token_for
from tests.intake.conftest import carer_and_person, intake_events


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Hong_Kong")).date()


def days_ago(n: int) -> str:
    return (today() - timedelta(days=n)).isoformat()


async def case_for(staff: ServiceClient, person: str, worker: str = "sw-lee") -> str:
    await staff.ok("record_consent", person_id=person, purpose="service", given=True)
    opened = await staff.ok("open_case", person_id=person, worker_id=worker, on=days_ago(30))
    return str(opened["case_id"])


async def test_a_phone_fixed_is_logged_with_who_changed_it_and_sends_no_event(staff, intake, nc):
    _, son = await carer_and_person(staff)
    fixed = await staff.ok("update_person", person_id=son, phone="+852 6000 1112")
    assert fixed == {"person_id": son, "changed": ["phone"], "revision": 1}
    record = await staff.ok("qry:person", person_id=son)
    assert record["phone"] == "+852 6000 1112"
    found = await staff.ok("qry:find_people", text="6000 1112")
    assert [p["person_id"] for p in found["people"]] == [son]
    nothing = await staff.ok("update_person", person_id=son, phone="+852 6000 1112")
    assert nothing == {"person_id": son, "changed": [], "revision": 1}
    async with intake.pool.acquire() as conn:
        log = await conn.fetch("SELECT fields, changed_by, revision FROM person_changes")
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE subject LIKE '%.person.updated'"
        )
    assert [(r["fields"], r["changed_by"], r["revision"]) for r in log] == [
        (["phone"], "worker-1", 1)
    ]
    assert events == 0


async def test_roles_and_birth_year_corrected_are_announced_without_personal_data(staff, nc):
    mother, son = await carer_and_person(staff)
    fixed = await staff.ok(
        "update_person",
        person_id=son,
        roles=["person_in_recovery", "family_carer"],
        birth_year=1950,
        legal_name="陳志明 Chan Chi Ming",
        address="Flat 3, Likang Road",
    )
    assert fixed["changed"] == ["address", "birth_year", "legal_name", "roles"]
    events = await intake_events(nc, wait_for=3)
    updated = [e for e in events if e["type"] == "intake.person.updated"]
    assert [e["data"] for e in updated] == [
        {
            "person_id": son,
            "revision": 1,
            "roles": ["person_in_recovery", "family_carer"],
            "age_band": "65_plus",
            "sex": None,
            "updated_on": today().isoformat(),
        }
    ]
    raw = json.dumps(updated)
    for personal in ("陳志明", "Likang Road", "1950"):
        assert personal not in raw
    # The corrected role counts at once: the son may now be linked as a carer.
    await staff.ok("link_carer", carer_id=son, cared_for_id=mother, relationship="child")


async def test_a_correction_refused_changes_nothing(staff, intake, nc):
    _, son = await carer_and_person(staff)
    cleared = await staff.cmd("update_person", person_id=son, preferred_name=None)
    assert (cleared.error.code, cleared.error.details[0].field) == (
        "validation_error",
        "preferred_name",
    )
    bad_role = await staff.cmd("update_person", person_id=son, roles=["landlord"])
    assert bad_role.error.code == "validation_error"
    nobody = await staff.cmd("update_person", person_id=str(uuid4()), phone="+852 6000 1112")
    assert nobody.error.code == "not_found"
    other_centre = ServiceClient(
        nc,
        "intake",
        "icmhc",
        "sw-ip",
        token=token_for("sw-ip", roles=["social_worker"], sites=["icmhc"]),
    )
    elsewhere = await other_centre.cmd("update_person", person_id=son, phone="+852 6000 1112")
    assert elsewhere.error.code == "not_found"
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM person_changes") == 0
        assert await conn.fetchval("SELECT max(revision) FROM people") == 0


async def test_a_waitlisted_referral_is_accepted_later_and_the_event_says_it_was_waitlisted(
    staff, nc
):
    referral = await staff.ok(
        "receive_referral", source="hospital", reason="Discharged", on=days_ago(10)
    )
    rid = referral["referral_id"]
    await staff.ok(
        "decide_referral", referral_id=rid, decision="waitlisted", reason="Full", on=days_ago(9)
    )
    accepted = await staff.ok(
        "decide_referral", referral_id=rid, decision="accepted", reason="A place came free"
    )
    assert accepted["status"] == "accepted"
    again = await staff.cmd("decide_referral", referral_id=rid, decision="declined", reason="x")
    assert again.error.code == "conflict"
    events = await intake_events(nc, wait_for=3)
    decided = [e["data"] for e in events if e["type"] == "intake.referral.decided"]
    assert [(d["decision"], d["previous_decision"]) for d in decided] == [
        ("waitlisted", None),
        ("accepted", "waitlisted"),
    ]


async def test_undecided_referrals_list_urgent_first_then_the_oldest_with_the_waitlist(staff):
    routine_old = await staff.ok("receive_referral", source="self", reason="x", on=days_ago(20))
    urgent_new = await staff.ok(
        "receive_referral", source="hospital", reason="x", urgency="urgent", on=days_ago(1)
    )
    waiting = await staff.ok("receive_referral", source="ngo", reason="x", on=days_ago(5))
    await staff.ok(
        "decide_referral", referral_id=waiting["referral_id"], decision="waitlisted", reason="x"
    )
    decided = await staff.ok("receive_referral", source="ngo", reason="x", on=days_ago(3))
    await staff.ok(
        "decide_referral", referral_id=decided["referral_id"], decision="declined", reason="x"
    )
    at_jinsha = await staff.ok(
        "receive_referral", site="jinsha", source="school", reason="x", on=days_ago(2)
    )
    listed = (await staff.ok("qry:referrals_undecided"))["referrals"]
    assert [(r["referral_id"], r["status"], r["age_days"]) for r in listed] == [
        (urgent_new["referral_id"], "received", 1),
        (routine_old["referral_id"], "received", 20),
        (waiting["referral_id"], "waitlisted", 5),
        (at_jinsha["referral_id"], "received", 2),
    ]
    assert "reason" not in listed[0]
    urgent = (await staff.ok("qry:referrals_undecided", urgency="urgent"))["referrals"]
    assert [r["referral_id"] for r in urgent] == [urgent_new["referral_id"]]
    received = await staff.ok("qry:referrals_undecided", include_waitlisted=False)
    assert waiting["referral_id"] not in [r["referral_id"] for r in received["referrals"]]
    child = (await staff.ok("qry:referrals_undecided", site="jinsha"))["referrals"]
    assert [r["referral_id"] for r in child] == [at_jinsha["referral_id"]]


async def test_a_case_reassigned_moves_to_the_new_workers_caseload(staff, nc, intake):
    mother, son = await carer_and_person(staff)
    son_case = await case_for(staff, son)
    mother_case = await case_for(staff, mother)
    await staff.ok("log_contact", case_id=son_case, mode="phone", minutes=20, on=days_ago(3))
    lee = await staff.ok("qry:caseload", worker_id="sw-lee")
    assert [(c["case_id"], c["preferred_name"]) for c in lee["cases"]] == [
        (son_case, "Ah Ming"),
        (mother_case, "陳太"),
    ]
    assert {c["case_id"]: c["last_contact_on"] for c in lee["cases"]}[son_case] == days_ago(3)

    moved = await staff.ok("reassign_case", case_id=son_case, worker_id="sw-chan")
    assert moved == {"case_id": son_case, "worker_id": "sw-chan", "previous": "sw-lee"}
    lee = await staff.ok("qry:caseload", worker_id="sw-lee")
    chan = await staff.ok("qry:caseload", worker_id="sw-chan")
    assert [c["case_id"] for c in lee["cases"]] == [mother_case]
    assert [c["case_id"] for c in chan["cases"]] == [son_case]
    assert (await staff.ok("qry:case", case_id=son_case))["worker_id"] == "sw-chan"
    same = await staff.cmd("reassign_case", case_id=son_case, worker_id="sw-chan")
    assert same.error.code == "validation_error"
    elsewhere = await staff.cmd("reassign_case", site="icmhc", case_id=son_case, worker_id="x")
    assert elsewhere.error.code == "not_found"
    events = await intake_events(nc, wait_for=8)
    reassigned = [e for e in events if e["type"] == "intake.case.reassigned"]
    assert [e["data"]["previous_worker_id"] for e in reassigned] == ["sw-lee"]
    assert reassigned[0]["subject"] == son_case
    async with intake.pool.acquire() as conn:
        logged = await conn.fetchval(
            "SELECT count(*) FROM access_log WHERE what = 'caseload' AND person_id = $1",
            son,
        )
    assert logged == 2


async def test_a_mistaken_contact_is_voided_once_with_its_reason(staff, nc, intake):
    _, son = await carer_and_person(staff)
    case_id = await case_for(staff, son)
    wrong = await staff.ok("log_contact", case_id=case_id, mode="home_visit", minutes=60)
    right = await staff.ok("log_contact", case_id=case_id, mode="phone", minutes=15)
    voided = await staff.ok(
        "void_contact", contact_id=wrong["contact_id"], reason="Logged against the wrong case"
    )
    assert voided["voided_on"] == today().isoformat()
    again = await staff.cmd("void_contact", contact_id=wrong["contact_id"], reason="again")
    assert again.error.code == "conflict"
    elsewhere = await staff.cmd(
        "void_contact", site="icmhc", contact_id=right["contact_id"], reason="x"
    )
    assert elsewhere.error.code == "not_found"
    no_reason = await staff.cmd("void_contact", contact_id=right["contact_id"], reason="")
    assert no_reason.error.code == "validation_error"
    contacts = (await staff.ok("qry:case", case_id=case_id))["contacts"]
    assert {c["contact_id"]: c["voided_on"] for c in contacts} == {
        wrong["contact_id"]: today().isoformat(),
        right["contact_id"]: None,
    }
    events = await intake_events(nc, wait_for=7)
    void = [e for e in events if e["type"] == "intake.case.contact_voided"]
    assert [e["data"]["contact_id"] for e in void] == [wrong["contact_id"]]
    assert "wrong case" not in json.dumps(void)
    async with intake.pool.acquire() as conn:
        reason = await conn.fetchval(
            "SELECT void_reason FROM case_contacts WHERE contact_id = $1", wrong["contact_id"]
        )
    assert reason == "Logged against the wrong case"


async def test_a_persons_assessments_are_listed_void_ones_marked_and_the_read_logged(
    staff, nc, intake
):
    _, son = await carer_and_person(staff)
    await case_for(staff, son)
    baseline = await staff.ok(
        "record_assessment",
        person_id=son,
        instrument="brs",
        timepoint="baseline",
        answers=[4, 2, 4, 2, 4, 2],
        on=days_ago(20),
    )
    mistaken = await staff.ok(
        "record_assessment",
        person_id=son,
        instrument="phq9",
        timepoint="baseline",
        answers=[0, 0, 0, 0, 0, 0, 0, 0, 1],
        on=days_ago(10),
    )
    assert mistaken["safety_followup"] is True
    await staff.ok(
        "void_assessment", assessment_id=mistaken["assessment_id"], reason="Another client's form"
    )
    assert (await staff.ok("qry:safety_followups"))["followups"] == []
    listed = (await staff.ok("qry:assessments", person_id=son))["assessments"]
    assert [
        (a["assessment_id"], a["instrument"], a["timepoint"], a["score"], a["band"], a["voided"])
        for a in listed
    ] == [
        (baseline["assessment_id"], "brs", "baseline", 4.0, "normal", False),
        (mistaken["assessment_id"], "phq9", "baseline", 1.0, "minimal", True),
    ]
    assert listed[0]["assessed_on"] == days_ago(20)
    brs = (await staff.ok("qry:assessments", person_id=son, instrument="brs"))["assessments"]
    assert len(brs) == 1
    elsewhere = await staff.qry("assessments", site="icmhc", person_id=son)
    assert elsewhere.error.code == "not_found"
    events = await intake_events(nc, wait_for=7)
    void = [e["data"] for e in events if e["type"] == "intake.assessment.voided"]
    assert void == [
        {
            "assessment_id": mistaken["assessment_id"],
            "person_id": son,
            "instrument": "phq9",
            "voided_on": today().isoformat(),
        }
    ]
    async with intake.pool.acquire() as conn:
        logged = await conn.fetch(
            "SELECT actor, what FROM access_log WHERE person_id = $1 AND what = 'assessments'",
            son,
        )
    assert [(r["actor"], r["what"]) for r in logged] == [("worker-1", "assessments")] * 2


async def test_an_analyst_may_not_read_assessments_or_correct_anyone(nc, staff):
    _, son = await carer_and_person(staff)
    analyst = ServiceClient(
        nc,
        "intake",
        "likang",
        "analyst-ng",
        token=token_for("analyst-ng", roles=["analyst"], sites=["*"]),
    )
    read = await analyst.qry("assessments", person_id=son)
    assert read.error.code == "forbidden"
    fix = await analyst.cmd("update_person", person_id=son, phone="+852 6000 1112")
    assert fix.error.code == "forbidden"
