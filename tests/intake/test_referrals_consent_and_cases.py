"""Referrals are decided once; cases need consent, are one per person and site, move and close."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from tests.intake.conftest import carer_and_person, intake_events


def today() -> date:
    """Today in the organisation's time zone, when asked: a run may cross its midnight."""
    return datetime.now(ZoneInfo("Asia/Hong_Kong")).date()


def days_ago(n: int) -> str:
    return (today() - timedelta(days=n)).isoformat()


async def test_a_referral_for_someone_not_yet_registered_is_received_and_decided_once(staff, nc):
    referral = await staff.ok(
        "receive_referral",
        source="residents_committee",
        reason="Neighbour worried about son",
        urgency="urgent",
        on=days_ago(1),
    )
    decided = await staff.ok(
        "decide_referral",
        referral_id=referral["referral_id"],
        decision="accepted",
        reason="Meets criteria",
    )
    assert decided["status"] == "accepted"
    again = await staff.cmd(
        "decide_referral",
        referral_id=referral["referral_id"],
        decision="declined",
        reason="Changed mind",
    )
    assert again.error.code == "conflict"
    events = await intake_events(nc, wait_for=2)
    assert [e["type"] for e in events] == ["intake.referral.received", "intake.referral.decided"]
    assert events[0]["data"] == {
        "referral_id": referral["referral_id"],
        "source": "residents_committee",
        "urgency": "urgent",
        "person_id": None,
        "received_on": days_ago(1),
    }
    assert events[1]["data"]["decision"] == "accepted"
    assert events[1]["data"]["decided_on"] == today().isoformat()


async def test_referral_errors(staff):
    unknown_person = await staff.cmd(
        "receive_referral", source="hospital", reason="x", person_id=str(uuid4())
    )
    assert unknown_person.error.code == "not_found"
    bad_source = await staff.cmd("receive_referral", source="police", reason="x")
    assert bad_source.error.details[0].field == "source"
    unknown = await staff.cmd(
        "decide_referral", referral_id=str(uuid4()), decision="accepted", reason="x"
    )
    assert unknown.error.code == "not_found"
    referral = await staff.ok("receive_referral", source="hospital", reason="x")
    too_early = await staff.cmd(
        "decide_referral",
        referral_id=referral["referral_id"],
        decision="accepted",
        reason="x",
        on=days_ago(3),
    )
    assert (too_early.error.code, too_early.error.details[0].field) == ("validation_error", "on")


async def test_urgent_referrals_not_decided_in_time_are_listed_as_overdue(staff):
    old_urgent = await staff.ok(
        "receive_referral", source="hospital", reason="a", urgency="urgent", on=days_ago(5)
    )
    await staff.ok(
        "receive_referral", source="hospital", reason="b", urgency="routine", on=days_ago(5)
    )
    await staff.ok(
        "receive_referral", source="hospital", reason="c", urgency="urgent", on=days_ago(1)
    )
    decided = await staff.ok(
        "receive_referral", source="ngo", reason="d", urgency="urgent", on=days_ago(6)
    )
    await staff.ok(
        "decide_referral", referral_id=decided["referral_id"], decision="waitlisted", reason="full"
    )
    overdue = await staff.ok("qry:referrals_overdue")
    assert [r["referral_id"] for r in overdue["referrals"]] == [old_urgent["referral_id"]]
    assert overdue["days"] == 2
    stricter = await staff.ok("qry:referrals_overdue", days=0)
    assert len(stricter["referrals"]) == 2


async def test_opening_a_case_needs_service_consent(staff):
    _, son = await carer_and_person(staff)
    refused = await staff.cmd("open_case", person_id=son, worker_id="sw-lee")
    assert refused.error.code == "consent_required"
    await staff.ok("record_consent", person_id=son, purpose="outcome_data", given=True)
    still = await staff.cmd("open_case", person_id=son, worker_id="sw-lee")
    assert still.error.code == "consent_required"
    await staff.ok("record_consent", person_id=son, purpose="service", given=True)
    opened = await staff.ok("open_case", person_id=son, worker_id="sw-lee")
    assert opened["kind"] == "new"


async def test_consent_history_is_kept_and_the_latest_record_counts(staff, nc):
    mother, _ = await carer_and_person(staff)
    await staff.ok(
        "record_consent", person_id=mother, purpose="outcome_data", given=True, on=days_ago(30)
    )
    await staff.ok("record_consent", person_id=mother, purpose="outcome_data", given=False)
    consent = await staff.ok("qry:consent", person_id=mother)
    assert consent["current"] == {"service": False, "outcome_data": False, "data_sharing": False}
    assert [(h["purpose"], h["given"], h["recorded_by"]) for h in consent["history"]] == [
        ("outcome_data", True, "worker-1"),
        ("outcome_data", False, "worker-1"),
    ]
    events = await intake_events(nc, wait_for=4)
    recorded = [e["data"] for e in events if e["type"] == "intake.consent.recorded"]
    assert [(r["given"], r["recorded_on"]) for r in recorded] == [
        (True, days_ago(30)),
        (False, today().isoformat()),
    ]
    unknown = await staff.cmd(
        "record_consent", person_id=str(uuid4()), purpose="service", given=True
    )
    assert unknown.error.code == "not_found"


async def _consenting_person(staff) -> str:
    _, son = await carer_and_person(staff)
    await staff.ok("record_consent", person_id=son, purpose="service", given=True)
    return son


async def test_a_person_has_at_most_one_open_case_per_site_even_under_concurrent_requests(
    staff, intake
):
    son = await _consenting_person(staff)
    replies = await asyncio.gather(
        *(staff.cmd("open_case", person_id=son, worker_id=f"sw-{i}") for i in range(6))
    )
    assert sum(r.ok for r in replies) == 1
    assert {r.error.code for r in replies if not r.ok} == {"conflict"}
    elsewhere = await staff.cmd("open_case", site="jinsha", person_id=son, worker_id="sw-wong")
    assert elsewhere.ok
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases WHERE status = 'open'") == 2


async def test_a_closed_case_reopened_at_the_same_site_is_reactivated(staff, nc):
    son = await _consenting_person(staff)
    referral = await staff.ok(
        "receive_referral", source="hospital", reason="discharged", person_id=son, on=days_ago(10)
    )
    first = await staff.ok(
        "open_case",
        person_id=son,
        worker_id="sw-lee",
        referral_id=referral["referral_id"],
        on=days_ago(9),
    )
    closed = await staff.ok("close_case", case_id=first["case_id"], reason="goals_achieved")
    assert closed["status"] == "closed"
    again = await staff.cmd("close_case", case_id=first["case_id"], reason="other")
    assert again.error.code == "conflict"
    second = await staff.ok("open_case", person_id=son, worker_id="sw-lee")
    assert second["kind"] == "reactivated"
    events = await intake_events(nc, wait_for=7)
    opened = [e["data"] for e in events if e["type"] == "intake.case.opened"]
    assert [(o["kind"], o["roles"]) for o in opened] == [
        ("new", ["person_in_recovery"]),
        ("reactivated", ["person_in_recovery"]),
    ]
    assert opened[0]["referral_id"] == referral["referral_id"]
    assert opened[0]["opened_on"] == days_ago(9)
    [closing] = [e for e in events if e["type"] == "intake.case.closed"]
    assert closing["data"]["reason"] == "goals_achieved"
    assert closing["subject"] == first["case_id"]


async def test_a_transfer_closes_the_case_here_and_opens_one_there_with_the_history(staff, nc):
    son = await _consenting_person(staff)
    case = await staff.ok("open_case", person_id=son, worker_id="sw-lee", on=days_ago(20))
    await staff.ok(
        "log_contact", case_id=case["case_id"], mode="home_visit", minutes=60, on=days_ago(15)
    )
    moved = await staff.ok(
        "transfer_case", case_id=case["case_id"], to_site="jinsha", worker_id="sw-wong"
    )
    old = await staff.ok("qry:case", case_id=case["case_id"])
    new = await staff.ok("qry:case", case_id=moved["new_case_id"])
    assert (old["status"], old["transferred_to_case_id"]) == ("transferred", moved["new_case_id"])
    assert (new["site"], new["status"], new["kind"], new["worker_id"]) == (
        "jinsha",
        "open",
        "transferred_in",
        "sw-wong",
    )
    assert new["transferred_from_case_id"] == case["case_id"]
    record = await staff.ok("qry:person", person_id=son)
    assert [c["site"] for c in record["cases"]] == ["likang", "jinsha"]

    events = await intake_events(nc, wait_for=7)
    transferred = [e for e in events if e["type"] == "intake.case.transferred"]
    reopened = [e for e in events if e["type"] == "intake.case.opened"][-1]
    assert transferred[0]["site"] == "likang"
    assert transferred[0]["data"]["to_site"] == "jinsha"
    assert reopened["site"] == "jinsha"
    assert reopened["_subject"] == "evt.jinsha.intake.case.opened"
    assert reopened["data"]["kind"] == "transferred_in"

    twice = await staff.cmd("transfer_case", case_id=case["case_id"], to_site="nanyuan")
    assert twice.error.code == "conflict"
    not_here = await staff.cmd("transfer_case", case_id=moved["new_case_id"], to_site="nanyuan")
    assert not_here.error.code == "not_found"
    bad_code = await staff.cmd("transfer_case", case_id=case["case_id"], to_site="Bad Site")
    assert bad_code.error.code == "validation_error"
    unknown_site = await staff.cmd(
        "transfer_case", site="jinsha", case_id=moved["new_case_id"], to_site="zz-top"
    )
    assert unknown_site.error.code == "not_found"
    same = await staff.cmd(
        "transfer_case", site="jinsha", case_id=moved["new_case_id"], to_site="jinsha"
    )
    assert same.error.code == "validation_error"


async def test_casework_contacts_are_logged_for_days_the_case_was_open(staff, nc):
    son = await _consenting_person(staff)
    case = await staff.ok("open_case", person_id=son, worker_id="sw-lee", on=days_ago(10))
    await staff.ok("log_contact", case_id=case["case_id"], mode="outreach_visit", minutes=45)
    await staff.ok("log_contact", case_id=case["case_id"], mode="phone", minutes=15, on=days_ago(2))
    await staff.ok("close_case", case_id=case["case_id"], reason="moved_away", on=days_ago(1))
    late = await staff.ok(
        "log_contact", case_id=case["case_id"], mode="office_interview", minutes=30, on=days_ago(1)
    )
    assert late["contact_id"]
    after = await staff.cmd("log_contact", case_id=case["case_id"], mode="phone", minutes=5)
    assert after.error.code == "conflict"
    before = await staff.cmd(
        "log_contact", case_id=case["case_id"], mode="phone", minutes=5, on=days_ago(11)
    )
    assert before.error.code == "validation_error"
    too_long = await staff.cmd("log_contact", case_id=case["case_id"], mode="phone", minutes=0)
    assert too_long.error.details[0].field == "minutes"
    detail = await staff.ok("qry:case", case_id=case["case_id"])
    assert sorted(c["minutes"] for c in detail["contacts"]) == [15, 30, 45]
    events = await intake_events(nc, wait_for=8)
    logged = [e["data"] for e in events if e["type"] == "intake.case.contact_logged"]
    assert {(c["mode"], c["minutes"]) for c in logged} == {
        ("outreach_visit", 45),
        ("phone", 15),
        ("office_interview", 30),
    }
    assert all(
        set(c) == {"contact_id", "case_id", "person_id", "mode", "minutes", "contact_on"}
        for c in logged
    )
    unknown = await staff.cmd("log_contact", case_id=str(uuid4()), mode="phone", minutes=5)
    assert unknown.error.code == "not_found"
    missing_case = await staff.qry("case", case_id=str(uuid4()))
    assert missing_case.error.code == "not_found"
