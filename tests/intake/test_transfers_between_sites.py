"""Transfers between two sites whose intakes keep separate databases: a handoff over NATS.

Likang's intake (CARENET_SITES=likang) and the ICMHC's (CARENET_SITES=icmhc) each have their
own PostgreSQL database and share one nats-server; nothing reaches the other site but the
``receive_transfer`` request and the events.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build
from shared.kit.service import ServiceRuntime
from tests.conftest import ServiceClient, eventually
from tests.identity import token_for
from tests.intake.conftest import FAST_HANDOFFS, intake_events

PERSON = {
    "preferred_name": "Ah Ming",
    "legal_name": "陳志明",
    "roles": ["person_in_recovery"],
    "sex": "male",
    "birth_year": 1990,
    "phone": "+852 6000 1111",
    "language": "yue",
    "address": "Flat 3, Likang Road",
}


def worker(nc, site: str, sub: str) -> ServiceClient:
    """A social worker whose token names ``site`` only."""
    token = token_for(sub, roles=["social_worker"], sites=[site])
    return ServiceClient(nc, "intake", site, sub, token=token)


async def start_icmhc(start_service, another_database) -> ServiceRuntime:
    return await start_service(
        ("intake", build),
        CARENET_SITES="icmhc",
        DATABASE_URL=await another_database(),
        **FAST_HANDOFFS,
    )


@pytest.fixture
async def likang(start_service) -> ServiceRuntime:
    return await start_service(("intake", build), CARENET_SITES="likang", **FAST_HANDOFFS)


async def person_with_case(lee: ServiceClient) -> tuple[str, str]:
    person = (await lee.ok("register_person", **PERSON))["person_id"]
    await lee.ok("record_consent", person_id=person, purpose="service", given=True)
    await lee.ok("record_consent", person_id=person, purpose="outcome_data", given=True)
    # The ICMHC is another branch of the agency: the case goes there only with this consent.
    await lee.ok("record_consent", person_id=person, purpose="data_sharing", given=True)
    case = await lee.ok("open_case", person_id=person, worker_id="sw-lee")
    return person, case["case_id"]


async def count(runtime: ServiceRuntime, sql: str, *args: Any) -> int:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


async def test_a_case_moves_to_a_site_with_its_own_database_and_the_person_with_it(
    nc, likang, start_service, another_database
):
    icmhc = await start_icmhc(start_service, another_database)
    lee, ho = worker(nc, "likang", "sw-lee"), worker(nc, "icmhc", "sw-ho")
    person, case = await person_with_case(lee)

    moved = await lee.ok("transfer_case", case_id=case, to_site="icmhc", worker_id="sw-ho")
    assert (moved["status"], moved["to_site"]) == ("completed", "icmhc")
    new_case = moved["new_case_id"]

    here = await lee.ok("qry:case", case_id=case)
    assert (here["status"], here["close_reason"], here["transferred_to_case_id"]) == (
        "transferred",
        "transferred",
        new_case,
    )
    assert (here["handoff"]["status"], here["handoff"]["attempts"]) == ("completed", 1)
    there = await ho.ok("qry:case", case_id=new_case)
    assert (there["site"], there["kind"], there["status"], there["worker_id"]) == (
        "icmhc",
        "transferred_in",
        "open",
        "sw-ho",
    )
    assert there["transferred_from_case_id"] == case
    record = await ho.ok("qry:person", person_id=person)
    assert {k: record[k] for k in PERSON} == PERSON
    consent = await ho.ok("qry:consent", person_id=person)
    assert consent["current"] == {"service": True, "outcome_data": True, "data_sharing": True}
    # ICMHC's database holds the person and one case; Likang's nothing of ICMHC's case.
    assert await count(icmhc, "SELECT count(*) FROM cases") == 1
    assert await count(likang, "SELECT count(*) FROM cases WHERE site = 'icmhc'") == 0

    events = await intake_events(nc, wait_for=7)
    transferred = of_type(events, "intake.case.transferred")
    opened_there = [e for e in of_type(events, "intake.case.opened") if e["site"] == "icmhc"]
    assert [(e["site"], e["data"]["new_case_id"]) for e in transferred] == [("likang", new_case)]
    assert [(e["_subject"], e["data"]["kind"]) for e in opened_there] == [
        ("evt.icmhc.intake.case.opened", "transferred_in")
    ]
    assert opened_there[0]["data"]["roles"] == ["person_in_recovery"]
    assert [e["site"] for e in of_type(events, "intake.person.registered")] == ["likang"]
    assert await lee.ok("qry:handoffs") == {"handoffs": []}


async def test_groups_at_the_receiving_site_enrol_the_person_it_learnt_from_the_case(
    nc, likang, start_service, another_database
):
    icmhc = await start_icmhc(start_service, another_database)
    groups = await start_service(
        ("groups", build_groups), CARENET_SITES="icmhc", DATABASE_URL=await another_database()
    )
    lee = worker(nc, "likang", "sw-lee")
    person, case = await person_with_case(lee)
    await lee.ok("transfer_case", case_id=case, to_site="icmhc", worker_id="sw-ho")

    async def known() -> bool:
        return (
            await count(
                groups, "SELECT count(*) FROM open_cases WHERE person_id = $1::uuid", person
            )
            == 1
            and await count(
                groups, "SELECT count(*) FROM known_people WHERE person_id = $1::uuid", person
            )
            == 1
        )

    await eventually(known)
    ho = ServiceClient(nc, "groups", "icmhc", "sw-ho", token=token_for("sw-ho", sites=["icmhc"]))
    programme = await ho.ok(
        "create_programme",
        title="Work skills",
        type="training_programme",
        target_roles=["person_in_recovery"],
        capacity=10,
        requires_case=True,
        facilitators=["sw-ho"],
        venue="Room 2",
        schedule={"first_date": "2026-01-05", "start_time": "10:00", "duration_min": 60},
    )
    enrolled = await ho.ok("enrol", programme_id=programme["programme_id"], person_id=person)
    assert enrolled["status"] == "enrolled"
    roster = await ho.ok("qry:roster", session_id=programme["session_ids"][0])
    assert [(p["person_id"], p["display_name"]) for p in roster["people"]] == [(person, "Ah Ming")]
    assert await count(icmhc, "SELECT count(*) FROM access_log WHERE what = 'person'") == 1


async def test_a_handoff_waits_through_a_cut_and_completes_once_when_the_site_is_back(
    nc, start_service, another_database
):
    await start_service(
        ("intake", build),
        CARENET_SITES="likang",
        **{**FAST_HANDOFFS, "CARENET_TRANSFER_WAIT_SECONDS": "1"},
    )
    lee = worker(nc, "likang", "sw-lee")
    person, case = await person_with_case(lee)

    moved = await lee.ok("transfer_case", case_id=case, to_site="icmhc")
    assert moved["status"] == "pending"
    assert "new_case_id" not in moved

    async def tried_twice() -> dict[str, Any] | None:
        handoff = (await lee.ok("qry:case", case_id=case))["handoff"]
        return handoff if handoff["attempts"] >= 2 else None

    waiting = await eventually(tried_twice)
    assert (waiting["status"], waiting["to_site"]) == ("pending", "icmhc")
    assert waiting["last_error"].startswith("unavailable: no intake service answered")
    listed = (await lee.ok("qry:handoffs"))["handoffs"]
    assert [(h["handoff_id"], h["case_id"], h["status"]) for h in listed] == [
        (moved["handoff_id"], case, "pending")
    ]
    operator = ServiceClient(
        nc, "intake", "likang", "op-1", token=token_for("op-1", roles=["operator"], sites=["*"])
    )
    assert (await operator.ok("qry:handoffs"))["handoffs"][0]["handoff_id"] == moved["handoff_id"]
    assert (await lee.ok("qry:case", case_id=case))["status"] == "transferring"
    contact = await lee.cmd("log_contact", case_id=case, mode="phone", minutes=10)
    assert contact.ok  # casework goes on while the transfer waits
    closing = await lee.cmd("close_case", case_id=case, reason="other")
    again = await lee.cmd("transfer_case", case_id=case, to_site="nanyuan")
    assert (closing.error.code, again.error.code) == ("conflict", "conflict")

    icmhc = await start_icmhc(start_service, another_database)

    async def completed() -> dict[str, Any] | None:
        found = await lee.ok("qry:case", case_id=case)
        return found if found["status"] == "transferred" else None

    done = await eventually(completed)
    assert done["handoff"]["status"] == "completed"
    assert await count(icmhc, "SELECT count(*) FROM cases WHERE person_id = $1::uuid", person) == 1
    events = await intake_events(nc, wait_for=8)
    assert len(of_type(events, "intake.case.transferred")) == 1
    # Two intakes' relays: the sites' events need not reach the stream in that order.
    assert sorted(e["site"] for e in of_type(events, "intake.case.opened")) == ["icmhc", "likang"]
    assert (await lee.ok("qry:handoffs"))["handoffs"] == []


async def test_a_sender_that_died_after_the_receiver_accepted_resends_and_gets_the_first_answer(
    nc, start_service, another_database, service_process
):
    icmhc = await start_icmhc(start_service, another_database)
    sender = service_process("services.intake", CARENET_SITES="likang", **FAST_HANDOFFS)
    sender.start(CARENET_CRASH_AT="handoff.after_answer")
    lee = worker(nc, "likang", "sw-lee")

    async def registered() -> str | None:
        reply = await lee.cmd("register_person", **PERSON)
        return reply.result["person_id"] if reply.ok and reply.result else None

    person_id = await eventually(registered, timeout=30)  # once the process serves
    await lee.ok("record_consent", person_id=person_id, purpose="service", given=True)
    await lee.ok("record_consent", person_id=person_id, purpose="data_sharing", given=True)
    case = (await lee.ok("open_case", person_id=person_id, worker_id="sw-lee"))["case_id"]

    await lee.cmd("transfer_case", case_id=case, to_site="icmhc")  # no answer: it dies
    assert sender.wait(30) == 70, sender.output()
    assert await count(icmhc, "SELECT count(*) FROM cases") == 1
    assert await count(icmhc, "SELECT count(*) FROM command_log") == 1

    sender = service_process("services.intake", CARENET_SITES="likang", **FAST_HANDOFFS).start()

    async def completed() -> dict[str, Any] | None:
        reply = await lee.qry("case", case_id=case)
        return reply.result if reply.ok and reply.result["status"] == "transferred" else None

    done = await eventually(completed, timeout=30)
    assert done["transferred_to_case_id"] == str(await _only_case(icmhc))
    assert done["handoff"]["attempts"] == 1  # the first attempt's bookkeeping died with it
    assert await count(icmhc, "SELECT count(*) FROM cases") == 1
    events = await intake_events(nc, wait_for=6)
    assert len(of_type(events, "intake.case.transferred")) == 1
    # Two intakes' relays: the sites' events need not reach the stream in that order.
    assert sorted(e["site"] for e in of_type(events, "intake.case.opened")) == ["icmhc", "likang"]


async def _only_case(runtime: ServiceRuntime) -> Any:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return await conn.fetchval("SELECT case_id FROM cases")


async def test_a_refused_handoff_leaves_the_case_open_at_the_sending_site(
    nc, likang, start_service, another_database
):
    icmhc = await start_icmhc(start_service, another_database)
    lee = worker(nc, "likang", "sw-lee")
    person, case = await person_with_case(lee)
    await lee.ok("transfer_case", case_id=case, to_site="icmhc")
    # Back at Likang with a new case, while the ICMHC case is still open: a second transfer
    # to the ICMHC is refused there.
    second = (await lee.ok("open_case", person_id=person, worker_id="sw-lee"))["case_id"]
    refused = await lee.ok("transfer_case", case_id=second, to_site="icmhc")
    assert refused["status"] == "refused"
    assert refused["reason"].startswith("conflict: the person already has an open case")
    assert "new_case_id" not in refused

    here = await lee.ok("qry:case", case_id=second)
    assert (here["status"], here["closed_on"], here["transferred_to_case_id"]) == (
        "open",
        None,
        None,
    )
    assert (here["handoff"]["status"], here["handoff"]["attempts"]) == ("refused", 1)
    listed = (await lee.ok("qry:handoffs", status="refused"))["handoffs"]
    assert [h["case_id"] for h in listed] == [second]
    assert await count(icmhc, "SELECT count(*) FROM cases") == 1
    assert await count(likang, "SELECT count(*) FROM handoffs WHERE token IS NOT NULL") == 0
    await lee.ok("close_case", case_id=second, reason="other")  # open again, as any case
    events = await intake_events(nc, wait_for=8)
    assert len(of_type(events, "intake.case.transferred")) == 1


async def test_withdrawing_data_sharing_cancels_a_transfer_not_yet_accepted(nc, start_service):
    # Nobody serves the ICMHC: the handoff waits, and transfer_case answers at once.
    likang = await start_service(
        ("intake", build),
        CARENET_SITES="likang",
        **{**FAST_HANDOFFS, "CARENET_TRANSFER_WAIT_SECONDS": "0"},
    )
    lee = worker(nc, "likang", "sw-lee")
    person, case = await person_with_case(lee)
    moved = await lee.ok("transfer_case", case_id=case, to_site="icmhc")
    assert moved["status"] == "pending"

    withdrawn = await lee.ok(
        "record_consent", person_id=person, purpose="data_sharing", given=False
    )
    assert (withdrawn["cancelled_handoffs"], withdrawn["closed_cases"]) == (
        [moved["handoff_id"]],
        [],
    )
    here = await lee.ok("qry:case", case_id=case)
    assert here["status"] == "open"  # casework goes on at Likang
    assert here["handoff"]["status"] == "cancelled"
    assert here["handoff"]["last_error"] == "cancelled: data_sharing consent withdrawn"
    listed = (await lee.ok("qry:handoffs", status="cancelled"))["handoffs"]
    assert [h["handoff_id"] for h in listed] == [moved["handoff_id"]]
    assert await count(likang, "SELECT count(*) FROM handoffs WHERE token IS NOT NULL") == 0
    again = await lee.cmd("transfer_case", case_id=case, to_site="icmhc")
    assert again.error.code == "consent_required"
    events = await intake_events(nc, wait_for=6)
    assert of_type(events, "intake.case.transferred") == []
