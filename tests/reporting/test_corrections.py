"""Corrections in intake (roles corrected, a contact and an assessment voided, a waitlisted
referral accepted, a case reassigned) change the figures, groups and volunteers follow the
roles, and a rebuild or a replay of every event gives the same figures as the live read
models."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from tests.conftest import ServiceClient, eventually
from tests.reporting.conftest import HAS_VOLUNTEERS, SOURCES, settled, summary
from tests.reporting.test_rebuild_and_replay import rebuild_cli

MONTH = "2026-10"


async def corrected_month(staff: ServiceClient) -> dict[str, str]:
    """A month at Likang with one of each correction; the ids the test needs."""
    people = []
    for n in range(3):
        registered = await staff.ok(
            "register_person",
            preferred_name=f"Person {n}",
            roles=["person_in_recovery"],
            birth_year=1980 + n,
            on="2026-10-01",
        )
        person = registered["person_id"]
        people.append(person)
        await staff.ok(
            "record_consent", person_id=person, purpose="service", given=True, on="2026-10-01"
        )
        await staff.ok(
            "record_consent", person_id=person, purpose="outcome_data", given=True, on="2026-10-01"
        )
    cases = [
        (await staff.ok("open_case", person_id=p, worker_id="sw-lee", on="2026-10-02"))["case_id"]
        for p in people
    ]
    # Ah Ming's mother was registered with the wrong role: she is his carer.
    await staff.ok("update_person", person_id=people[0], roles=["family_carer"])
    kept = await staff.ok(
        "log_contact", case_id=cases[0], mode="phone", minutes=30, on="2026-10-05"
    )
    mistaken = await staff.ok(
        "log_contact", case_id=cases[1], mode="home_visit", minutes=90, on="2026-10-06"
    )
    await staff.ok("void_contact", contact_id=mistaken["contact_id"], reason="wrong case")
    posts = []
    for person in people[1:]:
        await staff.ok(
            "record_assessment",
            person_id=person,
            instrument="brs",
            timepoint="baseline",
            answers=[2] * 6,
            on="2026-10-03",
        )
        posts.append(
            await staff.ok(
                "record_assessment",
                person_id=person,
                instrument="brs",
                timepoint="post",
                answers=[4] * 6,
                on="2026-10-20",
            )
        )
    await staff.ok("void_assessment", assessment_id=posts[1]["assessment_id"], reason="not theirs")
    referral = await staff.ok("receive_referral", source="hospital", reason="x", on="2026-10-07")
    await staff.ok(
        "decide_referral",
        referral_id=referral["referral_id"],
        decision="waitlisted",
        reason="full",
        on="2026-10-08",
    )
    await staff.ok(
        "decide_referral",
        referral_id=referral["referral_id"],
        decision="accepted",
        reason="a place came free",
        on="2026-10-15",
    )
    await staff.ok("reassign_case", case_id=cases[2], worker_id="sw-chan", on="2026-10-16")
    return {"mother": people[0], "kept_contact": kept["contact_id"]}


def corrected(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures the corrections decide."""
    return {
        "registered": figures["people_registered"]["by"]["role"],
        "opened": figures["cases_opened"]["by"]["role"],
        "active": figures["cases_active_end"]["by"]["role"],
        "contacts": (figures["case_contacts"]["total"], figures["case_contacts"]["hours"]),
        "decided": figures["referrals_decided"]["by"]["decision"],
        "brs": figures["outcomes"]["brs"]["n_paired"],
    }


async def test_corrections_change_the_figures_and_a_rebuild_or_a_replay_keeps_them(
    nc, system, nats_url, database_url
):
    staff = ServiceClient(nc, "intake", "likang", "sw-lee")
    ids = await corrected_month(staff)
    await settled(nc, system)
    live = await summary(nc, "likang", MONTH, exact=True)
    got = corrected(live["figures"])
    assert got["registered"]["family_carer"] == 1
    assert got["registered"]["person_in_recovery"] == 2
    assert (got["opened"]["family_carer"], got["opened"]["person_in_recovery"]) == (1, 2)
    assert (got["active"]["family_carer"], got["active"]["person_in_recovery"]) == (1, 2)
    assert got["contacts"] == (1, 0.5)
    assert (got["decided"]["accepted"], got["decided"]["waitlisted"]) == (1, 0)
    assert got["brs"] == 1

    # Groups and volunteers know the corrected roles too.
    for service in ("groups", "volunteers") if HAS_VOLUNTEERS else ("groups",):
        pool = system[service].pool
        assert pool is not None

        async def roles(pool: Any = pool) -> list[str] | None:
            async with pool.acquire() as conn:
                known = await conn.fetchval(
                    "SELECT roles FROM known_people WHERE person_id = $1", ids["mother"]
                )
            return list(known) if known == ["family_carer"] else None

        assert await eventually(roles) == ["family_carer"]

    code, _, err = await rebuild_cli(nats_url, database_url)
    assert code == 0, err
    await settled(nc, system)
    assert await summary(nc, "likang", MONTH, exact=True) == live

    # The same facts again under new event ids, newest first: an older decision (waitlisted)
    # or registration (with the wrong role) must not undo a correction.
    js = nc.jetstream()
    for stream in SOURCES:
        try:
            info = await js.stream_info(stream)
        except Exception:  # noqa: BLE001 - volunteers may not be running
            continue
        if not info.state.messages:
            continue
        for seq in range(info.state.last_seq, info.state.first_seq - 1, -1):
            raw = await js.get_msg(stream, seq)
            assert raw.data is not None and raw.subject is not None
            body = json.loads(raw.data)
            body["id"] = str(uuid4())
            await js.publish(
                raw.subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": body["id"]}
            )
    await settled(nc, system)
    assert await summary(nc, "likang", MONTH, exact=True) == live
