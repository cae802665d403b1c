"""The case record: notes, a care plan with goals and reviews, and the needs-and-risk
screening at referral. Their text and answers stay in intake; events carry goals' ids and
dates only."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest

from tests.conftest import ServiceClient
from tests.identity import token_for
from tests.intake.conftest import carer_and_person, intake_events

NOTE = "Ah Ming spoke about the night of the fire; he wants to sleep through again."
GOAL = "Sleep through the night four nights a week"
REVIEW = "Three nights last week, using the breathing exercise"


async def case_with_referral(staff: ServiceClient) -> tuple[str, str, str]:
    """(person, referral, case): a screened referral of Ah Ming, and the case opened from it."""
    _, son = await carer_and_person(staff)
    referral = await staff.ok(
        "receive_referral",
        source="hospital",
        reason="after discharge",
        person_id=son,
        on="2026-10-01",
    )
    await staff.ok("record_consent", person_id=son, purpose="service", given=True, on="2026-10-02")
    case = await staff.ok(
        "open_case",
        person_id=son,
        worker_id="sw-lee",
        referral_id=referral["referral_id"],
        on="2026-10-02",
    )
    return son, referral["referral_id"], case["case_id"]


async def test_notes_goals_reviews_and_the_screening_make_the_case_record(staff, nc):
    son, referral, case = await case_with_referral(staff)
    screened = await staff.ok(
        "screen_referral", referral_id=referral, answers=[0, 2, 2, 0, 1, 1, 1], on="2026-10-02"
    )
    assert {k: screened[k] for k in ("screening", "total", "band", "flags")} == {
        "screening": "needs_risk",
        "total": 7,
        "band": "attention",
        "flags": ["trauma_exposure", "trauma_reactions", "care_gap"],
    }
    note = await staff.ok("add_case_note", case_id=case, text=NOTE, on="2026-10-03")
    sleep = await staff.ok("set_goal", case_id=case, text=GOAL, on="2026-10-03")
    work = await staff.ok("set_goal", case_id=case, text="Find part-time work", on="2026-10-03")
    review = await staff.ok(
        "review_goal", goal_id=sleep["goal_id"], progress="on_track", note=REVIEW, on="2026-10-17"
    )
    met = await staff.ok("end_goal", goal_id=sleep["goal_id"], outcome="met", on="2026-10-31")
    dropped = await staff.ok(
        "end_goal", goal_id=work["goal_id"], outcome="dropped", note="Not now", on="2026-10-20"
    )
    assert (met["status"], dropped["status"]) == ("met", "dropped")

    record = await staff.ok("qry:case_record", case_id=case)
    assert (record["case_id"], record["person_id"], record["referral_id"]) == (case, son, referral)
    assert [(n["note_id"], n["text"], n["noted_on"]) for n in record["notes"]] == [
        (note["note_id"], NOTE, "2026-10-03")
    ]
    first, second = record["goals"]
    assert (first["goal_id"], first["text"], first["status"], first["ended_on"]) == (
        sleep["goal_id"],
        GOAL,
        "met",
        "2026-10-31",
    )
    assert [
        (r["review_id"], r["progress"], r["note"], r["reviewed_on"]) for r in first["reviews"]
    ] == [(review["review_id"], "on_track", REVIEW, "2026-10-17")]
    assert (second["status"], second["end_note"], second["reviews"]) == ("dropped", "Not now", [])
    [screening] = record["screenings"]
    assert (screening["answers"], screening["band"]) == ([0, 2, 2, 0, 1, 1, 1], "attention")
    log = await staff.ok("qry:access_log", person_id=son)
    assert [(e["actor"], e["what"]) for e in log["entries"]] == [("worker-1", "case_record")]

    events = await intake_events(nc, wait_for=10)
    goals = {e["type"]: e for e in events if ".goal_" in e["type"]}
    assert sorted(goals) == [
        "intake.case.goal_dropped",
        "intake.case.goal_met",
        "intake.case.goal_reviewed",
        "intake.case.goal_set",
    ]
    assert goals["intake.case.goal_met"]["data"] == {
        "goal_id": sleep["goal_id"],
        "case_id": case,
        "person_id": son,
        "met_on": "2026-10-31",
    }
    assert goals["intake.case.goal_reviewed"]["data"] == {
        "review_id": review["review_id"],
        "goal_id": sleep["goal_id"],
        "case_id": case,
        "person_id": son,
        "reviewed_on": "2026-10-17",
    }
    assert goals["intake.case.goal_met"]["_subject"] == "evt.likang.intake.case.goal_met"
    # Neither a note, a goal, a review nor a screening answer is in any event.
    everything = json.dumps(events, ensure_ascii=False)
    for text in (NOTE, GOAL, REVIEW, "Not now", "part-time", "trauma", "attention", "needs_risk"):
        assert text not in everything
    assert not [e for e in events if "note" in e["type"] or "screen" in e["type"]]


async def count(intake: Any, sql: str) -> int:
    async with intake.pool.acquire() as conn:
        return int(await conn.fetchval(sql))


async def test_mistaken_casework_is_refused_and_changes_nothing(staff, intake):
    _, referral, case = await case_with_referral(staff)
    goal = await staff.ok("set_goal", case_id=case, text=GOAL, on="2026-10-03")
    before = await count(
        intake,
        "SELECT (SELECT count(*) FROM outbox) * 1000 + "
        "(SELECT count(*) FROM goal_reviews) + (SELECT count(*) FROM case_notes)"
        " + (SELECT count(*) FROM referral_screenings)",
    )
    cases = [
        (("add_case_note",), {"case_id": str(uuid4()), "text": NOTE}, "not_found"),
        (
            ("add_case_note",),
            {"case_id": case, "text": NOTE, "on": "2026-10-01"},
            "validation_error",
        ),
        (("add_case_note",), {"case_id": case, "text": ""}, "validation_error"),
        (("set_goal",), {"case_id": case, "text": GOAL, "on": "2026-09-30"}, "validation_error"),
        (("review_goal",), {"goal_id": goal["goal_id"], "progress": "great"}, "validation_error"),
        (
            ("review_goal",),
            {"goal_id": goal["goal_id"], "progress": "on_track", "on": "2026-10-02"},
            "validation_error",
        ),
        (("review_goal",), {"goal_id": str(uuid4()), "progress": "on_track"}, "not_found"),
        (("end_goal",), {"goal_id": goal["goal_id"], "outcome": "achieved"}, "validation_error"),
        (("screen_referral",), {"referral_id": referral, "answers": [0, 3]}, "validation_error"),
        (
            ("screen_referral",),
            {"referral_id": referral, "screening": "acs", "answers": [0]},
            "validation_error",
        ),
        (
            ("screen_referral",),
            {"referral_id": referral, "answers": [0] * 7, "on": "2026-09-30"},
            "validation_error",
        ),
    ]
    for (name,), fields, code in cases:
        reply = await staff.cmd(name, **fields)
        assert reply.error is not None and reply.error.code == code, (name, fields, reply)
    # A goal kept at Likang is not found from another centre.
    icmhc = await staff.cmd("end_goal", site="icmhc", goal_id=goal["goal_id"], outcome="met")
    assert icmhc.error is not None and icmhc.error.code == "not_found"
    after = await count(
        intake,
        "SELECT (SELECT count(*) FROM outbox) * 1000 + "
        "(SELECT count(*) FROM goal_reviews) + (SELECT count(*) FROM case_notes)"
        " + (SELECT count(*) FROM referral_screenings)",
    )
    assert after == before
    await staff.ok("end_goal", goal_id=goal["goal_id"], outcome="met", on="2026-10-10")
    again = await staff.cmd("end_goal", goal_id=goal["goal_id"], outcome="dropped")
    assert again.error is not None and again.error.code == "conflict"
    late = await staff.cmd("review_goal", goal_id=goal["goal_id"], progress="on_track")
    assert late.error is not None and late.error.code == "conflict"
    await staff.ok("close_case", case_id=case, reason="goals_achieved", on="2026-10-20")
    closed = await staff.cmd("set_goal", case_id=case, text=GOAL)
    assert closed.error is not None and closed.error.code == "conflict"
    # A note entered late, for a day the case was open, is taken; after its closing it is not.
    await staff.ok("add_case_note", case_id=case, text=NOTE, on="2026-10-19")
    after_close = await staff.cmd("add_case_note", case_id=case, text=NOTE, on="2026-10-21")
    assert after_close.error is not None and after_close.error.code == "conflict"


@pytest.mark.parametrize(
    ("roles", "sites"),
    [
        (["analyst"], ["*"]),
        (["operator"], ["*"]),
        (["peer_supporter"], ["likang"]),
        (["volunteer_coordinator"], ["likang"]),
        (["social_worker"], ["icmhc"]),
        (["centre_manager"], ["jinsha"]),
    ],
)
async def test_only_the_sites_casework_staff_read_or_write_the_case_record(
    staff, intake, roles, sites
):
    son, _, case = await case_with_referral(staff)
    goal = await staff.ok("set_goal", case_id=case, text=GOAL)
    reads = "SELECT count(*) FROM access_log"
    before = await count(intake, reads)
    outsider = ServiceClient(
        staff.nc,
        "intake",
        "likang",
        "someone",
        token=token_for("someone", roles=roles, sites=sites),
    )
    for reply in (
        await outsider.qry("case_record", case_id=case),
        await outsider.cmd("add_case_note", case_id=case, text=NOTE),
        await outsider.cmd("set_goal", case_id=case, text=GOAL),
        await outsider.cmd("review_goal", goal_id=goal["goal_id"], progress="on_track"),
        await outsider.cmd("end_goal", goal_id=goal["goal_id"], outcome="met"),
    ):
        assert reply.error is not None and reply.error.code == "forbidden", reply
    assert await count(intake, reads) == before
    manager = ServiceClient(
        staff.nc,
        "intake",
        "likang",
        "mgr-wong",
        token=token_for("mgr-wong", roles=["centre_manager"], sites=["likang"]),
    )
    assert (await manager.ok("qry:case_record", case_id=case))["person_id"] == son
    assert await count(intake, reads) == before + 1
