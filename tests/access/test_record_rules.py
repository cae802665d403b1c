"""The rules checked record by record, against the running services: a record kept at another
site is not found, a parent site's staff see their children's, a payload site never widens the
subject's, exact figures are the site's own manager's, a peer supporter acts on their own
matches and duties, and the access log names the verified reader."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.kit.bus.requests import request
from shared.kit.contracts.replies import Reply
from tests.access.conftest import as_, changes
from tests.conftest import ServiceClient
from tests.groups.conftest import known_to_groups, programme, today
from tests.volunteers.conftest import person, session_on, volunteer

PEER = ["peer_supporters"]


@pytest.fixture
def head(nc, system) -> dict[str, ServiceClient]:
    """Head office with every role, for setting things up."""
    return {name: ServiceClient(nc, name, "likang", "head-office") for name in system}


def worker(nc: Any, site: str, *, sites: tuple[str, ...] | None = None, sub: str = "") -> Any:
    """A social worker whose token names ``sites`` (default: ``site``), sending to ``site``."""
    return as_(nc, "intake", site, sub or f"sw-{site}", ["social_worker"], sites or (site,))


async def registered(intake: ServiceClient, site: str, name: str, **fields: Any) -> str:
    result = await intake.ok(
        "register_person",
        site=site,
        preferred_name=name,
        roles=fields.pop("roles", ["family_carer"]),
        register_anyway=True,
        **fields,
    )
    return str(result["person_id"])


async def with_case(intake: ServiceClient, site: str, person_id: str) -> str:
    await intake.ok("record_consent", site=site, person_id=person_id, purpose="service", given=True)
    case = await intake.ok("open_case", site=site, person_id=person_id, worker_id="sw-lee")
    return str(case["case_id"])


async def test_another_sites_records_are_not_found_by_id_nor_by_search(nc, head):
    intake = head["intake"]
    carer = await registered(intake, "likang", "陳美玲", phone="+852 9123 4567")
    case = await with_case(intake, "likang", carer)
    elsewhere = await registered(intake, "icmhc", "陳大文")
    jinsha = worker(nc, "jinsha")

    for name, fields in (
        ("person", {"person_id": carer}),
        ("consent", {"person_id": carer}),
        ("case", {"case_id": case}),
    ):
        reply = await jinsha.qry(name, **fields)
        assert reply.error.code == "not_found", name
    unknown = await jinsha.qry("person", person_id="00000000-0000-4000-8000-000000000000")
    assert unknown.error == (await jinsha.qry("person", person_id=carer)).error
    assert (await jinsha.ok("qry:find_people", text="陳"))["people"] == []
    assert (await jinsha.ok("qry:find_people", text="91234567"))["people"] == []
    # The subject decides, not the token: head office asking under likang sees likang's only.
    found = await intake.ok("qry:find_people", text="陳")
    assert [p["person_id"] for p in found["people"]] == [carer]
    assert (await intake.qry("person", person_id=elsewhere)).error.code == "not_found"


async def test_a_parent_sites_staff_read_their_childrens_records(nc, head):
    intake = head["intake"]
    child = await registered(intake, "jinsha", "Jinsha member")
    case = await with_case(intake, "jinsha", child)
    centre = worker(nc, "likang")
    for subject in ("likang", "jinsha"):
        record = await centre.ok("qry:person", site=subject, person_id=child)
        assert record["site"] == "jinsha"
        assert (await centre.ok("qry:case", site=subject, case_id=case))["site"] == "jinsha"
    found = await centre.ok("qry:find_people", text="Jinsha member")
    assert [p["person_id"] for p in found["people"]] == [child]
    parent_record = await registered(intake, "likang", "Centre member")
    assert (await worker(nc, "jinsha").qry("person", person_id=parent_record)).error.code == (
        "not_found"
    )
    sibling = as_(nc, "intake", "nanyuan", "sw-nanyuan", ["social_worker"], ["nanyuan"])
    assert (await sibling.qry("case", case_id=case)).error.code == "not_found"


async def test_a_person_transferred_in_is_known_at_the_receiving_site(nc, head):
    intake = head["intake"]
    member = await registered(intake, "likang", "Moving member")
    case = await with_case(intake, "likang", member)
    await intake.ok("transfer_case", case_id=case, to_site="nanyuan")
    nanyuan = worker(nc, "nanyuan")
    assert (await nanyuan.ok("qry:person", person_id=member))["site"] == "likang"
    assert [
        p["person_id"] for p in (await nanyuan.ok("qry:find_people", text="Moving"))["people"]
    ] == [member]
    assert (await worker(nc, "jinsha").qry("person", person_id=member)).error.code == "not_found"


async def test_commands_name_only_records_the_caller_may_act_on(nc, head):
    intake = head["intake"]
    member = await registered(intake, "likang", "Centre member")
    jinsha = worker(nc, "jinsha")
    refused = await jinsha.cmd("record_consent", person_id=member, purpose="service", given=True)
    assert refused.error.code == "not_found"
    other_centre = worker(nc, "icmhc")
    assert (
        await other_centre.cmd("open_case", person_id=member, worker_id="sw-icmhc")
    ).error.code == "not_found"
    # The centre's worker opens a case at one of its street programmes, under its subject.
    centre_at_child = worker(nc, "jinsha", sites=("likang",), sub="sw-likang")
    await centre_at_child.ok("record_consent", person_id=member, purpose="service", given=True)
    case = (await centre_at_child.ok("open_case", person_id=member, worker_id="sw-likang"))[
        "case_id"
    ]
    # A child site's case is changed under the child's subject, not the parent's.
    centre = worker(nc, "likang")
    not_here = await centre.cmd("close_case", case_id=case, reason="goals_achieved")
    assert not_here.error.code == "not_found"
    closed = await centre.ok("close_case", site="jinsha", case_id=case, reason="goals_achieved")
    assert closed["status"] == "closed"


async def report(client: ServiceClient, name: str, subject: str = "", **fields: Any) -> Reply:
    """A reporting query under ``subject`` (default the client's site): reporting's payload
    has a ``site`` of its own."""
    return await request(
        client.nc, "qry", subject or client.site, "reporting", name, fields, token=client.token
    )


def reporter(nc: Any, sub: str, roles: list[str], sites: list[str]) -> ServiceClient:
    return as_(nc, "reporting", "likang", sub, roles, sites)


async def test_a_payload_site_never_widens_the_subjects(nc, head):
    manager = reporter(nc, "mgr-likang", ["centre_manager"], ["likang"])
    for subject, site in (("likang", "icmhc"), ("likang", "*"), ("jinsha", "likang")):
        reply = await report(manager, "summary", subject, site=site, period="2026-10")
        assert reply.error.code == "forbidden", (subject, site)
    wide = await report(manager, "outcomes", instrument="brs", site="icmhc", period="2026-10")
    assert wide.error.code == "forbidden"
    # The example: under hq, icmhc's exact figures are not for head office.
    head_office = head["reporting"]
    hq = await report(head_office, "summary", "hq", site="icmhc", period="2026-10", exact=True)
    assert hq.error.code == "forbidden"
    deidentified = await report(head_office, "summary", "hq", site="icmhc", period="2026-10")
    assert deidentified.result["mode"] == "deidentified"


async def test_exact_figures_only_for_the_sites_own_centre_manager(nc, system):
    manager = reporter(nc, "mgr-likang", ["centre_manager"], ["likang"])
    exact = await report(manager, "summary", site="likang", period="2026-10", exact=True)
    assert exact.result["mode"] == "exact"
    child = await report(manager, "summary", "jinsha", site="jinsha", period="2026-10", exact=True)
    assert child.error.code == "forbidden"
    analyst = reporter(nc, "analyst-1", ["analyst"], ["hq"])
    refused = await report(analyst, "summary", site="likang", period="2026-10", exact=True)
    assert refused.error.code == "forbidden"
    outcomes = await report(
        analyst, "outcomes", instrument="brs", site="likang", period="2026-10", exact=True
    )
    assert outcomes.error.code == "forbidden"
    figures = await report(analyst, "summary", site="likang", period="2026-10")
    assert figures.result["mode"] == "deidentified"
    social_worker = reporter(nc, "sw-lee", ["social_worker"], ["likang"])
    asked = await report(social_worker, "summary", site="likang", period="2026-10", exact=True)
    assert asked.error.code == "forbidden"


async def test_a_peer_supporter_acts_on_their_own_matches_and_duties_only(nc, system, head):
    services = system
    peer = await volunteer(
        head,
        services,
        "Peer",
        teams=PEER,
        courses=["peer_support_foundation"],
        roles=["person_in_recovery"],
    )
    other = await volunteer(
        head,
        services,
        "Other peer",
        teams=PEER,
        courses=["peer_support_foundation"],
        roles=["person_in_recovery"],
    )
    user = await person(head, services, "User", ["person_in_recovery"], consent=True)
    coordinator = head["volunteers"]
    mine = (await coordinator.ok("start_peer_match", peer_volunteer_id=peer, person_id=user))[
        "match_id"
    ]
    theirs = (await coordinator.ok("start_peer_match", peer_volunteer_id=other, person_id=user))[
        "match_id"
    ]
    me = as_(nc, "volunteers", "likang", peer, ["peer_supporter"], ["likang"])

    contact = {"minutes": 30, "mode": "phone"}
    refused = await me.cmd("log_peer_contact", match_id=theirs, **contact)
    assert refused.error.code == "forbidden"
    await me.ok("log_peer_contact", match_id=mine, **contact)
    assert (await me.cmd("log_hours", volunteer_id=other, minutes=60)).error.code == "forbidden"
    await me.ok("log_hours", volunteer_id=peer, minutes=60)

    session = await session_on(head, services, today() + timedelta(days=2))
    duties = await coordinator.ok("request_volunteers", session_id=session, role="helper", count=2)
    assert len(duties["assignments"]) == 2
    listed = (await me.ok("qry:assignments", session_id=session))["assignments"]
    assert [d["volunteer_id"] for d in listed] == [peer]
    [own] = [d["assignment_id"] for d in listed]
    [someone_elses] = [d for d in duties["assignments"] if d != own]
    assert (await me.cmd("confirm_assignment", assignment_id=someone_elses)).error.code == (
        "forbidden"
    )
    assert (await me.cmd("decline_assignment", assignment_id=someone_elses)).error.code == (
        "forbidden"
    )
    assert (await me.ok("confirm_assignment", assignment_id=own))["status"] == "confirmed"
    # The coordinator, who is also a peer supporter, acts for everyone.
    both = as_(
        nc, "volunteers", "likang", other, ["peer_supporter", "volunteer_coordinator"], ["likang"]
    )
    assert len((await both.ok("qry:assignments", session_id=session))["assignments"]) == 2
    await both.ok("log_peer_contact", match_id=mine, **contact)
    # Their coming duties: their own list, never another's.
    coming = (await me.ok("qry:volunteer_duties", volunteer_id=peer))["duties"]
    assert [d["assignment_id"] for d in coming] == [own]
    theirs_listed = await me.qry("volunteer_duties", volunteer_id=other)
    assert theirs_listed.error is not None and theirs_listed.error.code == "forbidden"
    assert len((await both.ok("qry:volunteer_duties", volunteer_id=peer))["duties"]) == 1


async def test_the_access_log_names_the_verified_reader_and_the_rosters_reads(nc, system, head):
    intake = head["intake"]
    member = await registered(intake, "likang", "Logged member")
    case = await with_case(intake, "likang", member)
    reader = worker(nc, "likang", sub="sw-chan")
    await reader.ok("qry:person", person_id=member)
    await reader.ok("qry:find_people", text="Logged")
    await reader.ok("qry:consent", person_id=member)
    await reader.ok("qry:case", case_id=case)

    await known_to_groups(system["groups"], member)
    group = await head["groups"].ok("create_programme", **programme())
    await head["groups"].ok("enrol", programme_id=group["programme_id"], person_id=member)
    roster_reader = as_(nc, "groups", "likang", "sw-roster", ["social_worker"], ["likang"])
    roster = await roster_reader.ok("qry:roster", session_id=group["session_ids"][0])
    assert [p["display_name"] for p in roster["people"]] == ["Logged member"]

    manager = as_(nc, "intake", "likang", "mgr-likang", ["centre_manager"], ["likang"])
    entries = (await manager.ok("qry:access_log", person_id=member))["entries"]
    by_chan = [(e["what"], e["roles"]) for e in entries if e["actor"] == "sw-chan"]
    assert sorted(by_chan) == sorted(
        (what, ["social_worker"]) for what in ("person", "find_people", "consent", "case")
    )
    assert [(e["actor"], e["what"]) for e in entries if e["actor"] == "sw-roster"] == [
        ("sw-roster", "person")
    ]
    assert {e["site"] for e in entries} == {"likang"}
    assert all(e["accessed_at"] for e in entries)

    other_site = as_(nc, "intake", "jinsha", "mgr-jinsha", ["centre_manager"], ["jinsha"])
    assert (await other_site.ok("qry:access_log", person_id=member))["entries"] == []
    refused = await reader.qry("access_log", person_id=member)
    assert refused.error.code == "forbidden"


async def test_a_sites_lists_include_the_sites_below_it_and_nothing_above(nc, head):
    intake = head["intake"]
    old = (today() - timedelta(days=10)).isoformat()
    urgent = {"source": "hospital", "reason": "discharged", "urgency": "urgent", "on": old}
    at_child = (await intake.ok("receive_referral", site="jinsha", **urgent))["referral_id"]
    at_parent = (await intake.ok("receive_referral", site="likang", **urgent))["referral_id"]
    centre = worker(nc, "likang")
    listed = (await centre.ok("qry:referrals_overdue"))["referrals"]
    assert {(r["referral_id"], r["site"]) for r in listed} == {
        (at_child, "jinsha"),
        (at_parent, "likang"),
    }
    child = worker(nc, "jinsha")
    assert [r["referral_id"] for r in (await child.ok("qry:referrals_overdue"))["referrals"]] == [
        at_child
    ]


async def test_groups_worklists_show_the_site_and_those_below_it_and_a_person_only_to_casework(
    nc, system, head
):
    groups = head["groups"]
    carer = await registered(head["intake"], "jinsha", "Jinsha carer")
    await known_to_groups(system["groups"], carer)
    first = (today() - timedelta(days=2)).isoformat()
    talk = {
        "type": "psychoeducation_talk",
        "capacity": 0,
        "target_roles": [],
        "facilitators": [],
        "schedule": {"first_date": first, "start_time": "19:00", "duration_min": 60},
    }
    at_child = await groups.ok(
        "create_programme", site="jinsha", **programme(title="Street talk", **talk, venue="Street")
    )
    at_parent = await groups.ok(
        "create_programme", site="likang", **programme(title="Centre talk", **talk, venue="Hall")
    )
    await groups.ok(
        "record_attendance",
        site="jinsha",
        session_id=at_child["session_ids"][0],
        dropped_in=[carer],
    )
    week = {"from": first, "to": first}

    def titles(reply: dict[str, Any]) -> set[str]:
        return {s["title"] for s in reply["sessions"]}

    centre = as_(nc, "groups", "likang", "vc-likang", ["volunteer_coordinator"], ["likang"])
    assert titles(await centre.ok("qry:calendar", **week)) == {"Street talk", "Centre talk"}
    street = as_(nc, "groups", "jinsha", "vc-jinsha", ["volunteer_coordinator"], ["jinsha"])
    assert titles(await street.ok("qry:calendar", **week)) == {"Street talk"}
    assert len(at_parent["session_ids"]) == 1

    refused = await centre.qry("person_enrolments", person_id=carer)
    assert refused.error is not None and refused.error.code == "forbidden"
    parent = as_(nc, "groups", "likang", "sw-likang", ["social_worker"], ["likang"])
    seen = await parent.ok("qry:person_enrolments", person_id=carer)
    assert [a["dropped_in"] for a in seen["attendance"]] == [True]
    elsewhere = as_(nc, "groups", "icmhc", "sw-icmhc", ["social_worker"], ["icmhc"])
    assert (await elsewhere.ok("qry:person_enrolments", person_id=carer))["attendance"] == []


async def test_corrections_and_worklists_stop_at_the_site_and_a_parent_reaches_its_children(
    nc, head, system
):
    intake = head["intake"]
    carer = await registered(intake, "likang", "陳美玲", phone="+852 9123 4567")
    case = await with_case(intake, "likang", carer)
    contact = await intake.ok("log_contact", case_id=case, mode="phone", minutes=10)
    assessment = await intake.ok(
        "record_assessment", person_id=carer, instrument="k6", timepoint="baseline", answers=[1] * 6
    )
    referral = await intake.ok("receive_referral", source="self", reason="x")
    jinsha = worker(nc, "jinsha")
    before = await changes(system)
    for name, fields in (
        ("update_person", {"person_id": carer, "phone": "+852 9123 4568"}),
        ("void_contact", {"contact_id": contact["contact_id"], "reason": "x"}),
        ("void_assessment", {"assessment_id": assessment["assessment_id"], "reason": "x"}),
        ("reassign_case", {"case_id": case, "worker_id": "sw-jinsha"}),
        (
            "decide_referral",
            {"referral_id": referral["referral_id"], "decision": "accepted", "reason": "x"},
        ),
    ):
        reply = await jinsha.cmd(name, **fields)
        assert reply.error.code == "not_found", name
    assert (await jinsha.qry("assessments", person_id=carer)).error.code == "not_found"
    assert (await jinsha.ok("qry:referrals_undecided"))["referrals"] == []
    assert (await jinsha.ok("qry:caseload", worker_id="sw-lee"))["cases"] == []
    after = await changes(system)
    # Nothing written, nothing read: only the refused commands' ids are claimed.
    assert [after[k] - before[k] for k in ("intake.outbox", "intake.access_log")] == [0, 0]

    # The centre's staff reach a child site's records from the centre.
    child = await registered(intake, "jinsha", "Jinsha member")
    child_case = await with_case(intake, "jinsha", child)
    centre = worker(nc, "likang")
    listed = await centre.ok("qry:caseload", worker_id="sw-lee")
    assert {c["case_id"] for c in listed["cases"]} == {case, child_case}
    assert (await centre.ok("qry:assessments", person_id=child))["assessments"] == []
    fixed = await centre.ok("update_person", person_id=child, language="yue")
    assert fixed["changed"] == ["language"]
    log = await as_(nc, "intake", "likang", "mgr", ["centre_manager"], ("likang",)).ok(
        "qry:access_log", person_id=child
    )
    assert {(e["actor"], e["what"]) for e in log["entries"]} == {
        ("sw-likang", "caseload"),
        ("sw-likang", "assessments"),
    }
