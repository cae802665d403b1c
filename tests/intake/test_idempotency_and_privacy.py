"""Every intake command is idempotent, and no event carries personal data."""

from __future__ import annotations

import json
import re
from uuid import uuid4

from shared.kit.bus.requests import request
from tests.identity import token_for
from tests.intake.conftest import intake_events

MOTHER = {
    "preferred_name": "陳太",
    "legal_name": "陳美玲",
    "phone": "+852 9123 4567",
    "address": "Flat 12, 3/F, Nanyuan Street 88",
    "birth_year": 1962,
}
SON = {
    "preferred_name": "Ah Ming",
    "legal_name": "CHAN Chi Ming",
    "phone": "+852 6000 1111",
    "address": "Room 5, Jinsha Halfway House",
    "birth_year": 1990,
}
FREE_TEXT = [
    "Referred after discharge from Brain Hospital ward 7",
    "Declined: lives outside the catchment",
    "Safety plan agreed with Ah Ming by phone",
]


async def _full_flow(staff) -> dict[str, str]:
    """One family's path through intake, touching every command."""
    mother = await staff.ok(
        "register_person", roles=["family_carer"], sex="female", language="yue", **MOTHER
    )
    son = await staff.ok("register_person", roles=["person_in_recovery"], sex="male", **SON)
    m, s = mother["person_id"], son["person_id"]
    await staff.ok("link_carer", carer_id=m, cared_for_id=s, relationship="parent")
    referral = await staff.ok(
        "receive_referral", source="hospital", reason=FREE_TEXT[0], urgency="urgent", person_id=s
    )
    await staff.ok(
        "decide_referral",
        referral_id=referral["referral_id"],
        decision="accepted",
        reason="Meets criteria",
    )
    other = await staff.ok("receive_referral", source="self", reason="Wants a group")
    await staff.ok(
        "decide_referral",
        referral_id=other["referral_id"],
        decision="declined",
        reason=FREE_TEXT[1],
    )
    for person in (m, s):
        await staff.ok("record_consent", person_id=person, purpose="service", given=True)
        await staff.ok("record_consent", person_id=person, purpose="outcome_data", given=True)
    case = await staff.ok(
        "open_case", person_id=s, worker_id="sw-lee", referral_id=referral["referral_id"]
    )
    carer_case = await staff.ok("open_case", person_id=m, worker_id="sw-lee")
    await staff.ok("log_contact", case_id=case["case_id"], mode="home_visit", minutes=50)
    flagged = await staff.ok(
        "record_assessment",
        person_id=s,
        instrument="phq9",
        timepoint="baseline",
        answers=[1, 1, 1, 1, 1, 1, 1, 1, 1],
    )
    await staff.ok(
        "acknowledge_safety_followup", assessment_id=flagged["assessment_id"], note=FREE_TEXT[2]
    )
    await staff.ok(
        "record_assessment",
        person_id=m,
        instrument="brs",
        timepoint="baseline",
        answers=[2, 4, 2, 4, 2, 4],
    )
    await staff.ok("transfer_case", case_id=case["case_id"], to_site="jinsha")
    await staff.ok("close_case", case_id=carer_case["case_id"], reason="goals_achieved")
    await staff.ok("record_consent", person_id=m, purpose="outcome_data", given=False)
    return {"mother": m, "son": s}


async def test_no_event_published_in_a_full_flow_contains_personal_data(staff, nc, intake):
    await _full_flow(staff)
    async with intake.pool.acquire() as conn:
        committed = await conn.fetchval("SELECT count(*) FROM outbox")
    events = await intake_events(nc, wait_for=committed)
    assert len(events) == committed >= 20
    assert {e["type"] for e in events} >= {
        "intake.person.registered",
        "intake.carer.linked",
        "intake.referral.received",
        "intake.referral.decided",
        "intake.consent.recorded",
        "intake.case.opened",
        "intake.case.contact_logged",
        "intake.assessment.recorded",
        "intake.safety_followup.acknowledged",
        "intake.case.transferred",
        "intake.case.closed",
    }
    published = json.dumps(events, ensure_ascii=False)
    secrets = [*FREE_TEXT, "Meets criteria", "Wants a group"]
    for person in (MOTHER, SON):
        secrets += [
            person["preferred_name"],
            person["legal_name"],
            person["address"],
        ]
        digits = "".join(ch for ch in person["phone"] if ch.isdigit())
        secrets += [person["phone"], digits, digits[-8:], digits[-8:-4] + " " + digits[-4:]]
    leaked = [secret for secret in secrets if secret in published]
    # A birth year counts as leaked as a number or a date's year, not as four hex digits of an id.
    for person in (MOTHER, SON):
        year = str(person["birth_year"])
        if re.search(rf"(?<![0-9a-f-]){year}(?![0-9a-f])", published):
            leaked.append(year)
    assert leaked == []


async def test_every_command_repeated_with_its_command_id_returns_the_first_reply_and_writes_once(
    staff, nc, intake
):
    people = await _full_flow(staff)
    async with intake.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM outbox")
        sent = await conn.fetch("SELECT command_id, name, site, actor, reply FROM command_log")
    assert {row["name"] for row in sent} == {
        "register_person",
        "link_carer",
        "receive_referral",
        "decide_referral",
        "record_consent",
        "open_case",
        "log_contact",
        "record_assessment",
        "acknowledge_safety_followup",
        "transfer_case",
        "receive_transfer",  # sent by intake's handoff relay, to itself here (both sites served)
        "close_case",
    }
    # Send each logged command again with the same command_id (and even another body).
    for row in sent:
        repeat = await request(
            nc,
            "cmd",
            row["site"],
            "intake",
            row["name"],
            {"command_id": str(row["command_id"]), **_minimal(row["name"], people)},
            token=token_for(row["actor"]),
        )
        assert repeat.model_dump(mode="json", exclude_none=True) == row["reply"]
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == before
        assert await conn.fetchval("SELECT count(*) FROM people") == 2


def _minimal(name: str, people: dict[str, str]) -> dict[str, object]:
    """A valid body for each command: the stored reply wins over whatever the repeat says."""
    any_id = str(uuid4())
    return {
        "register_person": {"preferred_name": "x", "roles": ["community_member"]},
        "link_carer": {
            "carer_id": people["mother"],
            "cared_for_id": people["son"],
            "relationship": "parent",
        },
        "receive_referral": {"source": "self", "reason": "x"},
        "decide_referral": {"referral_id": any_id, "decision": "accepted", "reason": "x"},
        "record_consent": {"person_id": people["son"], "purpose": "service", "given": False},
        "open_case": {"person_id": people["son"], "worker_id": "x"},
        "log_contact": {"case_id": any_id, "mode": "phone", "minutes": 1},
        "record_assessment": {
            "person_id": people["son"],
            "instrument": "brs",
            "timepoint": "post",
            "answers": [3] * 6,
        },
        "acknowledge_safety_followup": {"assessment_id": any_id},
        "transfer_case": {"case_id": any_id, "to_site": "nanyuan"},
        "receive_transfer": {
            "person_id": people["son"],
            "person": {
                "site": "likang",
                "preferred_name": "x",
                "roles": ["community_member"],
                "registered_on": "2026-01-01",
            },
            "from_site": "likang",
            "from_case_id": any_id,
            "worker_id": "x",
            "transferred_on": "2026-01-01",
        },
        "close_case": {"case_id": any_id, "reason": "other"},
    }[name]
