"""A data subject's access request: ``subject_access_export`` gathers what every service holds
about a person into one document, for the site's centre_manager only, and is access-logged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.reporting.app import build as build_reporting
from services.volunteers.app import build as build_volunteers
from shared.kit.service import ServiceRuntime
from tests.conftest import ServiceClient, eventually, started_runtime
from tests.groups.conftest import day, today
from tests.identity import token_for
from tests.reporting.conftest import settled

MANAGER = token_for("manager-likang", roles=["centre_manager"], sites=["likang"])
ELSEWHERE = token_for("manager-icmhc", roles=["centre_manager"], sites=["icmhc"])
WORKER = token_for("sw-lee", roles=["social_worker"], sites=["likang"])
NOTE = "Sleeps badly since the flood; wants to help others."


@pytest.fixture
async def system(start_service, settings_for) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """The four services; reporting is stopped here unless a test took it out to stop it."""
    running = {
        "intake": await start_service(("intake", build_intake)),
        "groups": await start_service(("groups", build_groups)),
        "volunteers": await start_service(("volunteers", build_volunteers)),
    }
    reporting = settings_for("reporting", CARENET_PUBLISH_DAY="0")
    running["reporting"] = await started_runtime(
        settings_for, build_reporting(reporting), CARENET_PUBLISH_DAY="0"
    )
    yield running
    if "reporting" in running:
        await running["reporting"].stop()


def clients(nc, token: str | None = None) -> dict[str, ServiceClient]:
    services = ("intake", "groups", "volunteers", "reporting")
    return {s: ServiceClient(nc, s, "likang", token=token) for s in services}


async def known_to(runtime: ServiceRuntime, person_id: str) -> None:
    async def check() -> bool:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM known_people WHERE person_id = $1::uuid", person_id
                )
            )

    await eventually(check)


async def took_part_in_everything(nc, system) -> tuple[str, str, dict[str, Any]]:
    """Ah Wai: registered and corrected, referred and screened, consenting, with a case (note,
    goal and review, contact), assessed, enrolled and attending a group, and a trained peer
    supporter with hours, matched with another person they have phoned."""
    c = clients(nc)
    intake, v = c["intake"], c["volunteers"]
    wai = (
        await intake.ok(
            "register_person",
            preferred_name="Ah Wai",
            legal_name="黃志偉",
            roles=["person_in_recovery", "volunteer"],
            sex="male",
            birth_year=1985,
            phone="+852 6111 2222",
            address="Flat 3, Nanyuan Street",
        )
    )["person_id"]
    await intake.ok("update_person", person_id=wai, phone="+852 6111 3333")
    referral = (
        await intake.ok(
            "receive_referral", source="hospital", reason="after discharge", person_id=wai
        )
    )["referral_id"]
    await intake.ok("screen_referral", referral_id=referral, answers=[0, 2, 2, 0, 1, 1, 1])
    for purpose in ("service", "outcome_data"):
        await intake.ok("record_consent", person_id=wai, purpose=purpose, given=True)
    case = (await intake.ok("open_case", person_id=wai, worker_id="sw-lee", referral_id=referral))[
        "case_id"
    ]
    await intake.ok("add_case_note", case_id=case, text=NOTE)
    goal = (await intake.ok("set_goal", case_id=case, text="Sleep six hours"))["goal_id"]
    await intake.ok("review_goal", goal_id=goal, progress="on_track", note="Better")
    await intake.ok("log_contact", case_id=case, mode="home_visit", minutes=45)
    await intake.ok(
        "record_assessment",
        person_id=wai,
        instrument="brs",
        timepoint="baseline",
        answers=[4, 2, 4, 2, 4, 2],
    )
    user = (
        await intake.ok("register_person", preferred_name="Siu Ling", roles=["person_in_recovery"])
    )["person_id"]
    await intake.ok("record_consent", person_id=user, purpose="service", given=True)

    await known_to(system["groups"], wai)
    group = await c["groups"].ok(
        "create_programme",
        title="Recovery group",
        type="support_group",
        target_roles=["person_in_recovery"],
        capacity=12,
        venue="Activity room 1",
        schedule={"first_date": day(-7), "start_time": "14:30", "duration_min": 90},
    )
    await c["groups"].ok("enrol", programme_id=group["programme_id"], person_id=wai)
    await c["groups"].ok("record_attendance", session_id=group["session_ids"][0], present=[wai])

    await known_to(system["volunteers"], wai)
    volunteer = (
        await v.ok("register_volunteer", person_id=wai, teams=["peer_supporters"], skills=[])
    )["volunteer_id"]
    await v.ok(
        "record_training",
        volunteer_id=volunteer,
        course="peer_support_foundation",
        hours=6,
        completed_on=(today() - timedelta(days=30)).isoformat(),
    )
    await v.ok("log_hours", volunteer_id=volunteer, minutes=90, activity="outing")

    async def matched() -> dict[str, Any] | None:
        reply = await v.cmd("start_peer_match", peer_volunteer_id=volunteer, person_id=user)
        return reply.result if reply.ok else None

    match = (await eventually(matched))["match_id"]
    await v.ok("log_peer_contact", match_id=match, minutes=30, mode="phone")
    await settled(nc, system)
    return wai, user, {"case": case, "referral": referral, "volunteer": volunteer, "match": match}


async def test_a_person_who_took_part_in_everything_is_exported_whole_and_the_export_is_logged(
    nc, system
):
    wai, user, ids = await took_part_in_everything(nc, system)

    async def intake_learnt_the_match() -> bool:
        assert system["intake"].pool is not None
        async with system["intake"].pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM peer_match_people WHERE match_id = $1::uuid",
                    ids["match"],
                )
            )

    await eventually(intake_learnt_the_match)
    manager = clients(nc, MANAGER)["intake"]
    export = await manager.ok("qry:subject_access_export", person_id=wai)

    assert (export["person_id"], export["site"], export["complete"]) == (wai, "likang", True)
    assert export["unavailable"] == [] and export["exported_by"] == "manager-likang"
    parts = export["services"]
    assert {name: part["status"] for name, part in parts.items()} == {
        "intake": "complete",
        "groups": "complete",
        "volunteers": "complete",
        "reporting": "complete",
    }

    intake = parts["intake"]
    person = intake["person"]
    assert (person["preferred_name"], person["legal_name"], person["phone"]) == (
        "Ah Wai",
        "黃志偉",
        "+852 6111 3333",
    )
    assert (person["address"], person["birth_year"], person["revision"]) == (
        "Flat 3, Nanyuan Street",
        1985,
        1,
    )
    assert [change["fields"] for change in intake["corrections"]] == [["phone"]]
    [referral] = intake["referrals"]
    assert referral["referral_id"] == ids["referral"] and referral["reason"] == "after discharge"
    assert referral["screenings"][0]["answers"] == [0, 2, 2, 0, 1, 1, 1]
    assert [(c["purpose"], c["given"]) for c in intake["consents"]] == [
        ("service", True),
        ("outcome_data", True),
    ]
    [case] = intake["cases"]
    assert case["case_id"] == ids["case"] and case["worker_id"] == "sw-lee"
    assert [n["text"] for n in case["notes"]] == [NOTE]
    [goal] = case["goals"]
    assert goal["text"] == "Sleep six hours" and goal["reviews"][0]["note"] == "Better"
    assert [(c["mode"], c["minutes"]) for c in case["contacts"]] == [("home_visit", 45)]
    [assessment] = intake["assessments"]
    assert (assessment["instrument"], assessment["answers"], assessment["score"]) == (
        "brs",
        [4, 2, 4, 2, 4, 2],
        4.0,
    )
    assert intake["outreach"]["linked"] is False
    activity = intake["activity"]  # what groups and volunteers told intake, for retention
    assert [r["person_id"] for r in activity["last_active"]] == [wai]
    assert [r["volunteer_id"] for r in activity["volunteer_ids"]] == [ids["volunteer"]]
    assert [(r["match_id"], r["person_id"]) for r in activity["peer_matches"]] == [
        (ids["match"], user)
    ]
    logged = [(e["actor"], e["roles"], e["what"]) for e in intake["access_log"]]
    assert logged[-1] == ("manager-likang", ["centre_manager"], "subject_access_export")

    groups = parts["groups"]
    [enrolment] = groups["enrolments"]
    assert (enrolment["status"], enrolment["title"]) == ("enrolled", "Recovery group")
    [attended] = groups["attendance"]
    assert (attended["attendance"], attended["date"]) == ("present", day(-7))
    assert set(groups["roles"]) == {"person_in_recovery", "volunteer"}
    assert [c["case_id"] for c in groups["open_cases"]] == [ids["case"]]
    assert groups["home_site"] == "likang"
    assert ("service", True) in [(c["purpose"], c["given"]) for c in groups["consents"]]

    volunteers = parts["volunteers"]
    assert ("service", True) in [(c["purpose"], c["given"]) for c in volunteers["consents"]]
    record = volunteers["volunteer"]
    assert record["volunteer_id"] == ids["volunteer"]
    assert [t["team"] for t in record["teams"]] == ["peer_supporters"]
    assert [(t["course"], t["hours"]) for t in record["trainings"]] == [
        ("peer_support_foundation", 6.0)
    ]
    assert [(h["minutes"], h["activity"]) for h in record["hours"]] == [(90, "outing")]
    [match] = volunteers["peer_matches"]
    assert (match["match_id"], match["as_whom"], match["person_id"]) == (
        ids["match"],
        "supporter",
        user,
    )
    assert [(c["minutes"], c["mode"]) for c in match["contacts"]] == [(30, "phone")]
    assert volunteers["service_consent"]["given"] is True

    reporting = parts["reporting"]
    assert [p["person_id"] for p in reporting["people"]] == [wai]
    assert [c["case_id"] for c in reporting["cases"]] == [ids["case"]]
    assert [a["instrument"] for a in reporting["assessments"]] == ["brs"]
    assert [s["session_on"] for s in reporting["sessions_attended"]] == [day(-7)]
    assert [v["volunteer_id"] for v in reporting["volunteers"]] == [ids["volunteer"]]
    assert [h["minutes"] for h in reporting["volunteer_hours"]] == [90]
    assert {c["purpose"] for c in reporting["consents"]} == {"service", "outcome_data"}

    # The log has the export under the verified identity, whatever the payload's actor said.
    log = await manager.ok("qry:access_log", person_id=wai)
    exports = [e for e in log["entries"] if e["what"] == "subject_access_export"]
    assert [(e["actor"], e["roles"], e["site"]) for e in exports] == [
        ("manager-likang", ["centre_manager"], "likang")
    ]

    # The person they support: volunteers holds them as the one supported, groups nothing.
    other = (await manager.ok("qry:subject_access_export", person_id=user))["services"]
    assert other["groups"]["enrolments"] == [] and other["groups"]["attendance"] == []
    assert other["volunteers"]["volunteer"] is None
    assert [m["as_whom"] for m in other["volunteers"]["peer_matches"]] == ["supported"]

    # A service that does not answer is named, and the export says it is incomplete.
    await system.pop("reporting").stop()
    partial = await manager.ok("qry:subject_access_export", person_id=wai)
    assert (partial["complete"], partial["unavailable"]) == (False, ["reporting"])
    assert partial["services"]["reporting"]["status"] == "unavailable"
    assert partial["services"]["reporting"]["error"]["code"] == "unavailable"
    assert partial["services"]["groups"]["status"] == "complete"


async def test_only_the_persons_own_centre_manager_may_export_them(nc, system):
    intake = ServiceClient(nc, "intake", "likang")
    wai = (
        await intake.ok("register_person", preferred_name="Ah Wai", roles=["person_in_recovery"])
    )["person_id"]
    before = await _exports(system["intake"])

    worker = await ServiceClient(nc, "intake", "likang", token=WORKER).qry(
        "subject_access_export", person_id=wai
    )
    assert worker.error is not None and worker.error.code == "forbidden"
    elsewhere = await ServiceClient(nc, "intake", "icmhc", token=ELSEWHERE).qry(
        "subject_access_export", person_id=wai
    )
    assert elsewhere.error is not None and elsewhere.error.code == "not_found"
    manager = ServiceClient(nc, "intake", "likang", token=MANAGER)
    unknown = await manager.qry("subject_access_export", person_id=str(uuid4()))
    assert unknown.error is not None and unknown.error.code == "not_found"
    bad = await manager.qry("subject_access_export", person_id="not-an-id")
    assert bad.error is not None and bad.error.code == "validation_error"
    assert await _exports(system["intake"]) == before

    # A duplicate merged into the person is exported with them, asked for by either id.
    twice = (
        await intake.ok("register_person", preferred_name="Wai", roles=["person_in_recovery"])
    )["person_id"]
    await intake.ok("record_consent", person_id=twice, purpose="service", given=True)
    await intake.ok("merge_people", duplicate_id=twice, into_id=wai, reason="registered twice")
    merged = await manager.ok("qry:subject_access_export", person_id=twice)
    assert (merged["person_id"], merged["asked_for"]) == (wai, twice)
    part = merged["services"]["intake"]
    assert [r["person_id"] for r in part["merged_records"]] == [twice]
    assert [m["duplicate_id"] for m in part["merges"]] == [twice]
    assert [c["purpose"] for c in part["consents"]] == ["service"]

    # Each service's own person_data is the manager's too, and a person unknown there is empty.
    for service in ("groups", "volunteers", "reporting"):
        refused = await ServiceClient(nc, service, "likang", token=WORKER).qry(
            "person_data", person_id=wai
        )
        assert refused.error is not None and refused.error.code == "forbidden", service
    nobody = await ServiceClient(nc, "groups", "likang", token=MANAGER).ok(
        "qry:person_data", person_id=str(uuid4())
    )
    assert (nobody["enrolments"], nobody["attendance"], nobody["roles"]) == ([], [], [])


async def _exports(intake: ServiceRuntime) -> int:
    assert intake.pool is not None
    async with intake.pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM access_log WHERE what = 'subject_access_export'"
            )
        )
