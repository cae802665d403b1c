"""Assessments are scored as docs/instruments.md says; PHQ-9 item 9 raises a safety follow-up."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.intake.conftest import carer_and_person, intake_events


@pytest.mark.parametrize(
    ("instrument", "answers", "score", "band"),
    [
        ("brs", [4, 2, 4, 2, 4, 2], 4.00, "normal"),
        ("brs", [5, 1, 5, 1, 5, 1], 5.00, "high"),
        ("brs", [1, 5, 1, 5, 1, 5], 1.00, "low"),
        ("brs", [3, 3, 3, 3, 3, 3], 3.00, "normal"),
        ("brs", [5, 1, 5, 2, 4, 2], 4.50, "high"),
        ("k6", [2, 3, 2, 2, 2, 2], 13, "serious_distress"),
        ("phq9", [1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),
    ],
)
async def test_the_worked_examples_score_as_written(staff, instrument, answers, score, band):
    mother, _ = await carer_and_person(staff)
    result = await staff.ok(
        "record_assessment",
        person_id=mother,
        instrument=instrument,
        timepoint="baseline",
        answers=answers,
    )
    assert (result["score"], result["band"], result["safety_followup"]) == (score, band, False)


async def test_an_assessment_event_carries_scores_not_answers(staff, nc):
    mother, _ = await carer_and_person(staff)
    result = await staff.ok(
        "record_assessment",
        person_id=mother,
        instrument="brs",
        timepoint="baseline",
        answers=[4, 2, 4, 2, 4, 2],
        on="2026-10-05",
    )
    events = await intake_events(nc, wait_for=3)
    [recorded] = [e for e in events if e["type"] == "intake.assessment.recorded"]
    assert recorded["data"] == {
        "assessment_id": result["assessment_id"],
        "person_id": mother,
        "instrument": "brs",
        "timepoint": "baseline",
        "score": 4.0,
        "band": "normal",
        "safety_followup": False,
        "assessed_on": "2026-10-05",
    }


async def test_wrong_answers_are_refused_with_the_item_numbers_and_nothing_is_scored(staff, intake):
    mother, _ = await carer_and_person(staff)
    out_of_range = await staff.cmd(
        "record_assessment",
        person_id=mother,
        instrument="brs",
        timepoint="baseline",
        answers=[4, 7, 4, 0, 4, 2],
    )
    assert out_of_range.error.code == "validation_error"
    assert [d.field for d in out_of_range.error.details] == ["answers.1", "answers.3"]
    assert "item 2" in out_of_range.error.details[0].message
    too_few = await staff.cmd(
        "record_assessment",
        person_id=mother,
        instrument="phq9",
        timepoint="baseline",
        answers=[1, 1, 1],
    )
    assert too_few.error.details[0].field == "answers"
    unknown = await staff.cmd(
        "record_assessment",
        person_id=mother,
        instrument="swemwbs",
        timepoint="baseline",
        answers=[1] * 7,
    )
    assert unknown.error.details[0].field == "instrument"
    bad_timepoint = await staff.cmd(
        "record_assessment", person_id=mother, instrument="brs", timepoint="later", answers=[3] * 6
    )
    assert bad_timepoint.error.details[0].field == "timepoint"
    nobody = await staff.cmd(
        "record_assessment",
        person_id=str(uuid4()),
        instrument="brs",
        timepoint="baseline",
        answers=[3] * 6,
    )
    assert nobody.error.code == "not_found"
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM assessments") == 0


async def test_phq9_item_9_stays_on_the_workers_list_until_acknowledged(staff, nc):
    _, son = await carer_and_person(staff)
    await staff.ok("record_consent", person_id=son, purpose="service", given=True)
    await staff.ok("open_case", person_id=son, worker_id="sw-lee")
    flagged = await staff.ok(
        "record_assessment",
        person_id=son,
        instrument="phq9",
        timepoint="baseline",
        answers=[0, 0, 0, 0, 0, 0, 0, 0, 1],
    )
    assert (flagged["score"], flagged["band"], flagged["safety_followup"]) == (1, "minimal", True)
    calm = await staff.ok(
        "record_assessment",
        person_id=son,
        instrument="phq9",
        timepoint="mid",
        answers=[3, 3, 3, 3, 3, 3, 3, 3, 0],
    )
    assert calm["safety_followup"] is False

    mine = await staff.ok("qry:safety_followups", worker_id="sw-lee")
    assert [f["assessment_id"] for f in mine["followups"]] == [flagged["assessment_id"]]
    others = await staff.ok("qry:safety_followups", worker_id="sw-chan")
    assert others["followups"] == []

    not_flagged = await staff.cmd(
        "acknowledge_safety_followup", assessment_id=calm["assessment_id"]
    )
    assert not_flagged.error.code == "not_allowed"
    await staff.ok(
        "acknowledge_safety_followup",
        assessment_id=flagged["assessment_id"],
        note="Phoned the same day; safety plan in place",
    )
    assert (await staff.ok("qry:safety_followups", worker_id="sw-lee"))["followups"] == []
    again = await staff.cmd("acknowledge_safety_followup", assessment_id=flagged["assessment_id"])
    assert again.error.code == "conflict"
    unknown = await staff.cmd("acknowledge_safety_followup", assessment_id=str(uuid4()))
    assert unknown.error.code == "not_found"

    events = await intake_events(nc, wait_for=7)
    recorded = [e["data"] for e in events if e["type"] == "intake.assessment.recorded"]
    assert [r["safety_followup"] for r in recorded] == [True, False]
    acknowledged = [e for e in events if e["type"] == "intake.safety_followup.acknowledged"]
    assert acknowledged[0]["data"]["acknowledged_by"] == "worker-1"
    assert "note" not in acknowledged[0]["data"]


async def test_raw_answers_are_kept_for_rescoring(staff, intake):
    mother, _ = await carer_and_person(staff)
    result = await staff.ok(
        "record_assessment",
        person_id=mother,
        instrument="k6",
        timepoint="post",
        answers=[2, 3, 2, 2, 2, 2],
    )
    async with intake.pool.acquire() as conn:
        answers = await conn.fetchval(
            "SELECT answers FROM assessments WHERE assessment_id = $1::uuid",
            result["assessment_id"],
        )
    assert list(answers) == [2, 3, 2, 2, 2, 2]
