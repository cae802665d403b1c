"""The figures of docs/figures.md computed from the test's own ledger, written without
reporting's code.

Rounding: hours to 0.1 and means to 0.01, percentages to 0.1, halves up.
"""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.reporting.agency import Ledger

ROLES = [
    "person_in_recovery",
    "family_carer",
    "rehabilitee",
    "si_affected",
    "community_member",
    "volunteer",
]
SOURCES = [
    "hospital",
    "street_office",
    "residents_committee",
    "ngo",
    "probation",
    "school",
    "family",
    "self",
    "other",
]
OUTREACH_MODES = [
    "street",
    "estate",
    "community_event",
    "school",
    "home_visit",
    "phone",
    "online",
    "other",
]
DECISIONS = ["accepted", "declined", "waitlisted"]
CONTACT_MODES = ["outreach_visit", "office_interview", "home_visit", "phone", "online"]
CLOSE_REASONS = [
    "goals_achieved",
    "moved_away",
    "declined_service",
    "no_contact",
    "deceased",
    "other",
    "consent_withdrawn",
]
RELATIONSHIPS = ["parent", "spouse", "sibling", "child", "other"]
TYPES = [
    "support_group",
    "parent_child_group",
    "psychoeducation_talk",
    "outing",
    "family_gathering",
    "forum",
    "training_programme",
    "house_meeting",
    "work_unit",
    "interest_class",
    "seminar",
    "conference",
    "community_event",
]
PEER_MODES = ["phone", "visit", "online", "group"]
# code: (reversed items, answer min + max, mean or sum, better direction, minimal change)
INSTRUMENTS = {
    "brs": ((2, 4, 6), 6, "mean", "higher", Decimal("0.5")),
    "gad7": ((), 3, "sum", "lower", Decimal(4)),
    "k10": ((), 6, "sum", "lower", Decimal(5)),
    "k6": ((), 4, "sum", "lower", Decimal(3)),
    "phq9": ((), 3, "sum", "lower", Decimal(5)),
}


def half_up(value: Decimal, places: str) -> float:
    return float(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def hours(minutes: int) -> float:
    return half_up(Decimal(minutes) / 60, "0.1")


def score(instrument: str, answers: list[int]) -> Decimal:
    flipped, flip, rule, _, _ = INSTRUMENTS[instrument]
    items = [flip - a if i in flipped else a for i, a in enumerate(answers, start=1)]
    if rule == "mean":
        return (Decimal(sum(items)) / len(items)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return Decimal(sum(items))


def _by(codes: list[str], counter: Counter[str]) -> dict[str, int]:
    out = {code: counter.get(code, 0) for code in codes}
    out.update({k: v for k, v in sorted(counter.items()) if k not in out})
    return out


def _in(day: str | None, start: str, end: str) -> bool:
    return day is not None and start <= day <= end


def figures(ledger: Ledger, sites: set[str], start: str, end: str) -> dict[str, Any]:
    f: dict[str, Any] = {}

    refs = [r for r in ledger.referrals.values() if r["site"] in sites and _in(r["on"], start, end)]
    sources = Counter(r["source"] for r in refs)
    f["referrals_received"] = {"total": len(refs), "by": {"source": _by(SOURCES, sources)}}
    decided = [
        r
        for r in ledger.referrals.values()
        if r.get("decided_at") in sites and _in(r.get("decided_on"), start, end)
    ]
    decisions = Counter(r["decision"] for r in decided)
    f["referrals_decided"] = {"total": len(decided), "by": {"decision": _by(DECISIONS, decisions)}}
    people = [p for p in ledger.people.values() if p["site"] in sites and _in(p["on"], start, end)]
    f["people_registered"] = {
        "total": len(people),
        "by": {"role": _by(ROLES, Counter(r for p in people for r in p["roles"]))},
    }
    opened = [
        c
        for c in ledger.cases.values()
        if c["site"] in sites and c["kind"] != "transferred_in" and _in(c["opened"], start, end)
    ]
    f["cases_opened"] = {
        "total": len(opened),
        "by": {
            "role": _by(ROLES, Counter(r for c in opened for r in c["roles"])),
            "kind": _by(["new", "reactivated"], Counter(c["kind"] for c in opened)),
        },
    }
    f["case_contacts"] = _contacts(ledger.contacts, sites, start, end, CONTACT_MODES)
    closed = [
        c
        for c in ledger.cases.values()
        if c["site"] in sites and c["reason"] is not None and _in(c["ended"], start, end)
    ]
    f["cases_closed"] = {
        "total": len(closed),
        "by": {"reason": _by(CLOSE_REASONS, Counter(c["reason"] for c in closed))},
    }
    active = [
        c
        for c in ledger.cases.values()
        if c["site"] in sites and c["opened"] <= end and (c["ended"] is None or c["ended"] > end)
    ]
    f["cases_active_end"] = {
        "total": len(active),
        "by": {"role": _by(ROLES, Counter(r for c in active for r in c["roles"]))},
    }
    links = [k for k in ledger.links if k["site"] in sites and _in(k["on"], start, end)]
    f["goals_met"] = {
        "total": sum(
            1 for g in ledger.goals.values() if g["site"] in sites and _in(g["met"], start, end)
        ),
        "by": {},
    }
    f["carers_linked"] = {
        "total": len(links),
        "by": {"relationship": _by(RELATIONSHIPS, Counter(k["relationship"] for k in links))},
    }
    here = [s for s in ledger.sessions.values() if s["site"] in sites and _in(s["on"], start, end)]
    held = [s for s in here if s["held"] and not s["cancelled"]]
    cancelled = [s for s in here if s["cancelled"]]
    f["sessions_held"] = {
        "total": len(held),
        "by": {"type": _by(TYPES, Counter(s["type"] for s in held))},
    }
    f["sessions_cancelled"] = {
        "total": len(cancelled),
        "by": {"type": _by(TYPES, Counter(s["type"] for s in cancelled))},
    }
    attendances: Counter[str] = Counter()
    for s in held:
        attendances[s["type"]] += len(s["present"]) + s["walk_ins"]
    f["attendances"] = {"total": sum(attendances.values()), "by": {"type": _by(TYPES, attendances)}}
    participants = {p for s in held for p in s["present"]}
    f["unique_participants"] = {
        "total": len(participants),
        "by": {
            "role": _by(ROLES, Counter(r for p in participants for r in ledger.people[p]["roles"]))
        },
    }
    enrolments = [e for e in ledger.enrolments if e["site"] in sites and _in(e["on"], start, end)]
    f["enrolments"] = {
        "total": len(enrolments),
        "by": {"status": _by(["enrolled", "waitlisted"], Counter(e["status"] for e in enrolments))},
    }
    worked = [h for h in ledger.hours if h["site"] in sites and _in(h["on"], start, end)]
    pairs = {(h["volunteer"], h["team"]) for h in worked}
    f["volunteers_active"] = {
        "total": len({v for v, _ in pairs}),
        "by": {"team": _by([], Counter(t for _, t in pairs))},
    }
    minutes: Counter[str] = Counter()
    for h in worked:
        minutes[h["team"]] += h["minutes"]
    f["volunteer_hours"] = {
        "total": hours(sum(minutes.values())),
        "by": {"team": {t: hours(m) for t, m in sorted(minutes.items())}},
    }
    duties = [a for a in ledger.assignments if a["site"] in sites and _in(a["on"], start, end)]
    f["volunteer_assignments"] = {
        "total": len(duties),
        "by": {"role": _by([], Counter(a["role"] for a in duties))},
    }
    turned = [
        v
        for v in ledger.volunteers.values()
        if v["site"] in sites and v["service_user"] and _in(v["on"], start, end)
    ]
    f["users_turned_volunteers"] = {
        "total": len(turned),
        "by": {"team": _by([], Counter(t for v in turned for t in v["teams"]))},
    }
    matches = [m for m in ledger.matches.values() if m["site"] in sites]
    f["peer_matches_started"] = {
        "total": sum(1 for m in matches if _in(m["started"], start, end)),
        "by": {},
    }
    f["peer_matches_active_end"] = {
        "total": sum(
            1 for m in matches if m["started"] <= end and (m["ended"] is None or m["ended"] > end)
        ),
        "by": {},
    }
    f["peer_contacts"] = _contacts(ledger.peer_contacts, sites, start, end, PEER_MODES)
    f["outreach_contacts"] = _outreach(ledger.outreach, sites, start, end)
    f["outcomes"] = {code: outcome(ledger, code, sites, start, end) for code in sorted(INSTRUMENTS)}
    return f


def _contacts(
    items: list[dict[str, Any]], sites: set[str], start: str, end: str, modes: list[str]
) -> dict[str, Any]:
    found = [c for c in items if c["site"] in sites and _in(c["on"], start, end)]
    minutes: Counter[str] = Counter()
    for c in found:
        minutes[c["mode"]] += c["minutes"]
    return {
        "total": len(found),
        "hours": hours(sum(minutes.values())),
        "by": {"mode": _by(modes, Counter(c["mode"] for c in found))},
        "hours_by": {"mode": {m: hours(minutes.get(m, 0)) for m in modes}},
    }


def _outreach(items: list[dict[str, Any]], sites: set[str], start: str, end: str) -> dict[str, Any]:
    """The logged counts of people met (not the number of entries), and their minutes."""
    found = [o for o in items if o["site"] in sites and _in(o["on"], start, end)]
    people: Counter[str] = Counter()
    minutes: Counter[str] = Counter()
    for o in found:
        people[o["mode"]] += o["count"]
        minutes[o["mode"]] += o["minutes"]
    return {
        "total": sum(people.values()),
        "hours": hours(sum(minutes.values())),
        "by": {"mode": _by(OUTREACH_MODES, people)},
        "hours_by": {"mode": {m: hours(minutes.get(m, 0)) for m in OUTREACH_MODES}},
    }


def paired(
    ledger: Ledger, instrument: str, sites: set[str], start: str, end: str
) -> list[tuple[str, Decimal, Decimal, str, str]]:
    """(person, baseline, latest, baseline date, latest date) of each paired person."""
    found = []
    people = {s["person"] for s in ledger.scores if s["instrument"] == instrument}
    for person in sorted(people):
        if not ledger.outcome_consent.get(person, False):
            continue
        mine = [s for s in ledger.scores if s["person"] == person and s["instrument"] == instrument]
        baselines = sorted(
            (s for s in mine if s["timepoint"] == "baseline"), key=lambda s: (s["on"], s["order"])
        )
        if not baselines:
            continue
        first = baselines[0]
        later = sorted(
            (
                s
                for s in mine
                if s["timepoint"] in ("post", "follow_up")
                and _in(s["on"], start, end)
                and s["on"] >= first["on"]
            ),
            key=lambda s: (s["on"], s["order"]),
        )
        if not later or later[-1]["site"] not in sites:
            continue
        last = later[-1]
        found.append(
            (
                person,
                score(instrument, first["answers"]),
                score(instrument, last["answers"]),
                first["on"],
                last["on"],
            )
        )
    return found


def stats(instrument: str, found: list[tuple[str, Decimal, Decimal, str, str]]) -> dict[str, Any]:
    n = len(found)
    if not n:
        return dict.fromkeys(
            ["n_paired", "mean_baseline", "mean_latest", "mean_change", "pct_improved"]
        ) | {"n_paired": 0}
    _, _, _, direction, minimal = INSTRUMENTS[instrument]
    improved = 0
    for _, before, after, _, _ in found:
        change = after - before if direction == "higher" else before - after
        improved += change >= minimal
    before_sum = sum((b for _, b, _, _, _ in found), Decimal(0))
    after_sum = sum((a for _, _, a, _, _ in found), Decimal(0))
    return {
        "n_paired": n,
        "mean_baseline": half_up(before_sum / n, "0.01"),
        "mean_latest": half_up(after_sum / n, "0.01"),
        "mean_change": half_up((after_sum - before_sum) / n, "0.01"),
        "pct_improved": half_up(Decimal(improved * 100) / n, "0.1"),
    }


def outcome(ledger: Ledger, instrument: str, sites: set[str], start: str, end: str) -> Any:
    return stats(instrument, paired(ledger, instrument, sites, start, end))
