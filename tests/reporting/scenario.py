"""October 2026 at the Likang Family Resource Centre and its three street programmes."""

from __future__ import annotations

from typing import Any

from tests.reporting.agency import Agency

BRS_BEFORE = {  # answers at baseline and after the programme, per person
    "carer1": ([3, 3, 3, 3, 3, 3], [4, 2, 4, 2, 4, 2]),  # 3.00 -> 4.00
    "carer2": ([2, 4, 2, 4, 2, 4], [3, 3, 3, 3, 3, 3]),  # 2.00 -> 3.00
    "carer3": ([3, 3, 3, 3, 3, 3], [3, 3, 4, 3, 3, 3]),  # 3.00 -> 3.17
    "carer4": ([4, 2, 4, 2, 4, 3], [5, 1, 5, 2, 4, 2]),  # 3.83 -> 4.50
    "carer5": ([3, 3, 3, 3, 3, 3], [2, 3, 3, 3, 3, 3]),  # 3.00 -> 2.83
    "both": ([2, 3, 2, 3, 2, 3], [4, 2, 4, 2, 4, 2]),  # 2.50 -> 4.00
    "rec1": ([3, 3, 3, 3, 3, 3], [3, 2, 3, 3, 3, 3]),  # 3.00 -> 3.17
    "rec3": ([1, 5, 1, 5, 1, 5], [5, 1, 5, 1, 5, 1]),  # withdraws consent later
}


def programme(title: str, type_: str, first: str, repeat: str, count: int, **extra: Any) -> dict:
    return {
        "title": title,
        "type": type_,
        "capacity": extra.pop("capacity", 12),
        "tags": extra.pop("tags", []),
        "facilitators": extra.pop("facilitators", ["sw-lee"]),
        "venue": extra.pop("venue", "Activity room 1"),
        "schedule": {
            "first_date": first,
            "start_time": extra.pop("start_time", "14:30"),
            "duration_min": 90,
            "repeat": repeat,
            "count": count,
        },
        **extra,
    }


async def october(agency: Agency, *, volunteers: bool) -> dict[str, str]:
    """Drive the month; returns the ids the tests refer to by name."""
    a = agency
    p: dict[str, str] = {}
    # People: carers and persons in recovery at the centre, a few at the street programmes.
    for i in range(1, 7):
        p[f"carer{i}"] = await a.register("likang", f"Carer {i}", ["family_carer"], f"2026-10-0{i}")
    p["both"] = await a.register(
        "likang", "Carer in recovery", ["family_carer", "person_in_recovery"], "2026-10-02"
    )
    for i in range(1, 7):
        p[f"rec{i}"] = await a.register(
            "likang", f"Member {i}", ["person_in_recovery"], f"2026-10-0{i + 2}"
        )
    p["friend"] = await a.register(
        "likang", "Neighbour", ["community_member", "volunteer"], "2026-10-03"
    )
    p["nan1"] = await a.register("nanyuan", "Nanyuan 1", ["person_in_recovery"], "2026-10-10")
    p["nan2"] = await a.register("nanyuan", "Nanyuan 2", ["person_in_recovery"], "2026-10-11")
    p["jin1"] = await a.register("jinsha", "Jinsha 1", ["family_carer"], "2026-10-12")
    p["sept"] = await a.register("likang", "September", ["family_carer"], "2026-09-20")

    # Referrals: hospital 3, residents' committees 4, self 2 at the centre; street office 2.
    refs = []
    for source, n in (("hospital", 3), ("residents_committee", 4), ("self", 2)):
        for i in range(n):
            refs.append(await a.referral("likang", source, f"2026-10-{10 + i:02d}"))
    for decision, ref in zip(["accepted"] * 6 + ["declined", "waitlisted"], refs[:8], strict=True):
        await a.decide("likang", ref, decision, "2026-10-20")
    for i in range(2):
        await a.referral("nanyuan", "street_office", f"2026-10-1{i}")

    # Consent and cases.
    with_case = [f"carer{i}" for i in range(1, 7)] + ["both"] + [f"rec{i}" for i in range(1, 7)]
    for name in with_case:
        await a.consent("likang", p[name], "service", True, "2026-10-08")
    for name in ("nan1", "nan2"):
        await a.consent("nanyuan", p[name], "service", True, "2026-10-12")
    cases: dict[str, str] = {}
    for name in with_case:
        cases[name] = await a.open_case("likang", p[name], "2026-10-09")
    for name in ("nan1", "nan2"):
        cases[name] = await a.open_case("nanyuan", p[name], "2026-10-13")
    # Care plans: six goals met at the centre in October (one entered after its case closed),
    # one dropped, one still open; one met at Nanyuan (a count below five).
    goals = {name: await a.goal("likang", cases[name], "2026-10-10") for name in with_case[:8]}
    await a.review_goal("likang", goals["carer1"], "some_progress", "2026-10-17")
    for name, day in zip(with_case[:5], ("18", "20", "22", "24", "26"), strict=True):
        await a.end_goal("likang", goals[name], "met", f"2026-10-{day}")
    await a.end_goal("likang", goals["rec1"], "dropped", "2026-10-27")
    nanyuan_goal = await a.goal("nanyuan", cases["nan1"], "2026-10-14")
    await a.end_goal("nanyuan", nanyuan_goal, "met", "2026-10-28")
    # Member 6 finishes and comes back within the month: one new and one reactivated case.
    await a.close_case("likang", cases["rec6"], "goals_achieved", "2026-10-12")
    cases["rec6b"] = await a.open_case("likang", p["rec6"], "2026-10-21")
    await a.close_case("likang", cases["carer6"], "moved_away", "2026-10-25")
    await a.end_goal("likang", goals["carer6"], "met", "2026-10-24")
    # Member 5 moves to the Nanyuan street programme.
    cases["rec5b"] = await a.transfer("likang", cases["rec5"], "nanyuan", "2026-10-15")
    for name, mode, minutes, day in (
        ("carer1", "home_visit", 60, "2026-10-14"),
        ("carer2", "phone", 15, "2026-10-14"),
        ("rec1", "office_interview", 45, "2026-10-16"),
        ("rec2", "phone", 20, "2026-10-17"),
        ("rec3", "outreach_visit", 50, "2026-10-19"),
        ("carer3", "phone", 10, "2026-10-20"),
    ):
        await a.contact("likang", cases[name], mode, minutes, day)
    await a.contact("nanyuan", cases["nan1"], "home_visit", 30, "2026-10-21")
    # The street programmes meet people who are not registered and count them.
    for site, count, mode, minutes, day in (
        ("nanyuan", 12, "street", 120, "2026-10-09"),
        ("nanyuan", 3, "estate", None, "2026-10-16"),
        ("jinsha", 7, "street", 90, "2026-10-23"),
        ("jinsha", 2, "community_event", 45, "2026-09-25"),
    ):
        await a.outreach(site, count, mode, minutes, day)
    for carer, cared, relationship in (
        ("carer1", "rec1", "parent"),
        ("carer2", "rec2", "spouse"),
        ("carer3", "rec3", "parent"),
        ("both", "rec4", "sibling"),
    ):
        await a.link("likang", p[carer], p[cared], relationship, "2026-10-09")

    # Outcomes: outcome-data consent, BRS at baseline in September and after in late October.
    for name in BRS_BEFORE:
        await a.consent("likang", p[name], "outcome_data", True, "2026-09-25")
    for name, (before, after) in BRS_BEFORE.items():
        await a.assess("likang", p[name], "brs", "baseline", before, "2026-09-28")
        await a.assess("likang", p[name], "brs", "post", after, "2026-10-29")
    # Member 2 has a baseline only; Member 3 withdraws consent for outcome data.
    await a.assess("likang", p["rec2"], "brs", "baseline", [3, 3, 3, 3, 3, 3], "2026-09-28")
    await a.consent("likang", p["rec2"], "outcome_data", True, "2026-09-25")
    await a.consent("likang", p["rec3"], "outcome_data", False, "2026-10-30")
    # K6 for two people: a count below five.
    for name in ("rec1", "both"):
        await a.assess("likang", p[name], "k6", "baseline", [2, 3, 2, 2, 2, 2], "2026-10-01")
        await a.assess("likang", p[name], "k6", "post", [1, 1, 1, 1, 2, 1], "2026-10-29")

    # Groups: a weekly family support group (trauma-informed), talks with walk-ins, a house
    # meeting, and a talk at the Nanyuan street programme.
    group = await a.programme(
        "likang",
        **programme(
            "Family support group",
            "support_group",
            "2026-10-06",
            "weekly",
            4,
            capacity=6,
            tags=["carer_support", "trauma_informed"],
            target_roles=["family_carer"],
        ),
    )
    group_id = a.programme_id
    for i in range(1, 6):
        await a.enrol("likang", group_id, p[f"carer{i}"], "2026-10-05")
    await a.enrol("likang", group_id, p["both"], "2026-10-05")
    await a.enrol("likang", group_id, p["carer6"], "2026-10-05")  # waitlisted
    c = [p[f"carer{i}"] for i in range(1, 6)]
    await a.attendance("likang", group[0], c[:3], [c[3]])
    await a.attendance("likang", group[1], c, [])
    await a.attendance("likang", group[1], c[:4], [c[4]], walk_ins=1)  # corrected record
    await a.cancel("likang", group[2])
    await a.attendance("likang", group[3], [c[0], c[1], p["both"]], [], walk_ins=2)
    talk = await a.programme(
        "likang",
        **programme(
            "Understanding recovery (talk)",
            "psychoeducation_talk",
            "2026-10-16",
            "once",
            1,
            capacity=0,
            venue="Hall",
            start_time="19:00",
        ),
    )
    await a.attendance("likang", talk[0], [], [], walk_ins=23)
    meeting = await a.programme(
        "likang",
        **programme(
            "House meeting",
            "house_meeting",
            "2026-10-27",
            "daily",
            3,
            capacity=20,
            venue="Clubroom",
            start_time="09:30",
            facilitators=["sw-ho"],
        ),
    )
    meeting_id = a.programme_id
    for name in ("rec1", "rec2", "rec3", "rec4"):
        await a.enrol("likang", meeting_id, p[name], "2026-10-26")
    r = [p[f"rec{i}"] for i in range(1, 5)]
    await a.attendance("likang", meeting[0], r[:2], r[2:])
    await a.attendance("likang", meeting[1], r[:3], r[3:])
    await a.attendance("likang", meeting[2], r, [])
    street = await a.programme(
        "nanyuan",
        **programme(
            "Resilience talk",
            "psychoeducation_talk",
            "2026-10-22",
            "once",
            1,
            capacity=0,
            tags=["resilience"],
            venue="Street office",
            facilitators=["sw-chan"],
        ),
    )
    await a.attendance("nanyuan", street[0], [], [], walk_ins=9)

    # A late entry: a referral received in September, typed in now.
    await a.referral("likang", "family", "2026-09-29")

    if volunteers:
        await volunteer_month(a, p, group)
    return p


async def volunteer_month(a: Agency, p: dict[str, str], group: list[str]) -> None:
    """Family volunteers and P.E.E.R. peer supporters in the same month."""
    mum = await a.volunteer(
        "likang", p["carer1"], ["family_volunteer_team"], "2026-10-05", ["volunteer_induction"]
    )
    peer = await a.volunteer(
        "likang", p["rec1"], ["peer_supporters"], "2026-10-05", ["peer_support_foundation"]
    )
    friend = await a.volunteer(
        "likang", p["friend"], ["family_volunteer_team"], "2026-10-06", ["volunteer_induction"]
    )
    await a.available("likang", mum, 1)  # Tuesdays
    await a.request_duty("likang", group[3], "co_facilitator", 1)
    await a.log_hours("likang", mum, "family_volunteer_team", 90, "2026-10-06")
    await a.log_hours("likang", mum, "family_volunteer_team", 45, "2026-10-13")
    await a.log_hours("likang", friend, "family_volunteer_team", 120, "2026-10-20")
    await a.log_hours("likang", peer, "peer_supporters", 60, "2026-10-21")
    await a.log_hours("likang", peer, "peer_supporters", 30, "2026-09-30")  # late, September
    first = await a.match("likang", peer, p["rec2"], "2026-10-07")
    second = await a.match("likang", peer, p["rec4"], "2026-10-09")
    await a.peer_contact("likang", first, "phone", 30, "2026-10-08")
    await a.peer_contact("likang", first, "visit", 60, "2026-10-15")
    await a.peer_contact("likang", second, "online", 20, "2026-10-22")
    await a.end_match("likang", second, "2026-10-30")
