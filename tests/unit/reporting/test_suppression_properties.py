"""Complementary suppression holds against arithmetic: for random figure sets (several
breakdowns, a parent with its sites, hours with the people behind them) no hidden number can be
worked out from the shown ones, the sums that tie them and what anyone knows of counts and hours.

The proof is ``reader.py``'s, written apart from ``suppression.py``'s own check: for every hidden
number it finds a second assignment of all hidden numbers that agrees with everything shown.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.reporting.suppression import SMALL, deidentify, suppress
from tests.unit.reporting.reader import assert_nothing_recoverable, numbers

settings.register_profile(
    "suppression",
    max_examples=int(os.environ.get("SUPPRESSION_EXAMPLES", "2000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SITES = ("north", "south", "east")
MODES = ("phone", "visit", "group")
SOURCES = ("hospital", "self", "ngo")
ROLES = ("carer", "recovery", "youth")
KINDS = ("new", "reactivated")
TEAMS = ("peer", "family")


# --- random figures -------------------------------------------------------------------------


COUNT = st.integers(0, 7)
SMALLISH = st.integers(0, 4)
ITEMS = {
    # referrals per source
    "referrals": st.tuples(*(COUNT for _ in SOURCES)),
    # cases per (roles, kind): one role or two
    "cases": st.lists(
        st.tuples(st.frozensets(st.sampled_from(ROLES), min_size=1), st.sampled_from(KINDS)),
        max_size=7,
    ),
    "present": st.frozensets(st.integers(0, 9), max_size=8),
    # per mode: contacts, how many people they were with (at most that many), half hours
    "contacts": st.tuples(*(st.tuples(COUNT, SMALLISH, st.integers(0, 12)) for _ in MODES)),
    # per team: volunteers, half hours
    "hours": st.tuples(*(st.tuples(SMALLISH, st.integers(0, 12)) for _ in TEAMS)),
}
FIGURE_ITEMS = {
    "referrals_received": "referrals",
    "cases_opened": "cases",
    "unique_participants": "present",
    "case_contacts": "contacts",
    "volunteer_hours": "hours",
}
EMPTY: dict[str, Any] = {
    "referrals": (0,) * len(SOURCES),
    "cases": [],
    "present": frozenset(),
    "contacts": ((0, 0, 0),) * len(MODES),
    "hours": ((0, 0),) * len(TEAMS),
}


@st.composite
def activity(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    """One site's own activity: the items behind the figures drawn (people 0-9 attend)."""
    drawn = {**EMPTY, **{FIGURE_ITEMS[n]: draw(ITEMS[FIGURE_ITEMS[n]]) for n in names}}
    # Contacts need someone, and someone contacted is in a contact; likewise hours.
    drawn["contacts"] = tuple(
        (n, min(max(k, 1), n), h if n else 0) for n, k, h in drawn["contacts"]
    )
    drawn["hours"] = tuple((k, h if k else 0) for k, h in drawn["hours"])
    return drawn


def figures_of(
    acts: list[dict[str, Any]], roles: dict[int, frozenset[str]]
) -> tuple[dict[str, Any], dict[str, int]]:
    """The figures of some sites' activity taken together, and the people behind each hours
    number (people of different sites are different people, but for attendance)."""
    refs = [sum(a["referrals"][i] for a in acts) for i in range(len(SOURCES))]
    cases = [c for a in acts for c in a["cases"]]
    present: set[int] = set().union(*(a["present"] for a in acts))
    contacts = [[a["contacts"][i] for a in acts] for i in range(len(MODES))]
    hours = [[a["hours"][i] for a in acts] for i in range(len(TEAMS))]
    f: dict[str, Any] = {
        "referrals_received": {
            "total": sum(refs),
            "by": {"source": dict(zip(SOURCES, refs, strict=True))},
        },
        "cases_opened": {
            "total": len(cases),
            "by": {
                "role": {r: sum(1 for rs, _ in cases if r in rs) for r in ROLES},
                "kind": {k: sum(1 for _, kind in cases if kind == k) for k in KINDS},
            },
        },
        "unique_participants": {
            "total": len(present),
            "by": {"role": {r: sum(1 for p in present if r in roles[p]) for r in ROLES}},
        },
        "case_contacts": {
            "total": sum(n for per in contacts for n, _, _ in per),
            "hours": sum(h for per in contacts for _, _, h in per) / 2,
            "by": {
                "mode": {
                    m: sum(n for n, _, _ in per) for m, per in zip(MODES, contacts, strict=True)
                }
            },
            "hours_by": {
                "mode": {
                    m: sum(h for _, _, h in per) / 2 for m, per in zip(MODES, contacts, strict=True)
                }
            },
        },
        "volunteer_hours": {
            "total": sum(h for per in hours for _, h in per) / 2,
            "by": {
                "team": {t: sum(h for _, h in per) / 2 for t, per in zip(TEAMS, hours, strict=True)}
            },
        },
    }
    # Nobody is in two modes or teams: the parent's people are the sites' added up.
    contributors = {
        "case_contacts.hours": sum(k for per in contacts for _, k, _ in per),
        **{
            f"case_contacts.hours_by.mode.{m}": sum(k for _, k, _ in per)
            for m, per in zip(MODES, contacts, strict=True)
        },
        "volunteer_hours.total": sum(k for per in hours for k, _ in per),
        **{
            f"volunteer_hours.by.team.{t}": sum(k for k, _ in per)
            for t, per in zip(TEAMS, hours, strict=True)
        },
    }
    return f, contributors


@st.composite
def figure_sets(draw: st.DrawFn) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, int]]]:
    """One or two figures of a parent alone, or with its sites' (the parent's their sum)."""
    names = sorted(draw(st.sets(st.sampled_from(sorted(FIGURE_ITEMS)), min_size=1, max_size=2)))
    roles: dict[int, frozenset[str]] = {}
    if "unique_participants" in names:
        some_roles = st.frozensets(st.sampled_from(ROLES), min_size=1)
        roles = dict(enumerate(draw(st.lists(some_roles, min_size=10, max_size=10))))
    n_sites = draw(st.sampled_from((0, 2, 3)))
    acts = [draw(activity(names)) for _ in range(max(n_sites, 1))]
    parent, parent_people = figures_of(acts, roles)
    tables = {"": {n: parent[n] for n in names}}
    contributors = {"": parent_people}
    for code, act in zip(SITES, acts[:n_sites], strict=False):
        own, own_people = figures_of([act], roles)
        tables[f"sites.{code}"] = {n: own[n] for n in names}
        contributors[f"sites.{code}"] = own_people
    return tables, contributors


@settings(settings.get_profile("suppression"))
@given(figure_sets())
def test_no_hidden_number_can_be_worked_out(drawn) -> None:
    tables, contributors = drawn
    before = copy.deepcopy(tables)
    sites = [p for p in tables if p]
    suppressed = suppress(tables, contributors, [("", sites)] if sites else [])
    assert_nothing_recoverable(before, tables, suppressed)
    # Primary suppression: every count of 1-4 and every hours number with 1-4 people is hidden.
    was = numbers(before)
    for path, value in was.items():
        if type(value) is int and 0 < value < SMALL:
            assert path in suppressed
    for prefix, people in contributors.items():
        for path, n in people.items():
            full = f"{prefix}.{path}" if prefix else path
            if full in was and was[full] and 0 < n < SMALL:
                assert full in suppressed


# --- the examples -------------------------------------------------------------------


def test_a_total_of_nine_with_hospital_six_shown_does_not_give_self_away():
    figures = {"referrals_received": {"total": 9, "by": {"source": {"hospital": 6, "self": 3}}}}
    hidden = deidentify(figures)
    shown = figures["referrals_received"]
    assert shown["by"]["source"]["self"] is None
    # With only two cells, one more must go: the other cell, not the total.
    assert shown["by"]["source"]["hospital"] is None and shown["total"] == 9
    assert sorted(hidden) == [
        "referrals_received.by.source.hospital",
        "referrals_received.by.source.self",
    ]


def test_enrolments_of_ten_with_eight_enrolled_do_not_give_the_two_waitlisted_away():
    figures = {"enrolments": {"total": 10, "by": {"status": {"enrolled": 8, "waitlisted": 2}}}}
    before = copy.deepcopy(figures)
    hidden = deidentify(figures)
    assert figures["enrolments"]["by"]["status"]["waitlisted"] is None
    assert figures["enrolments"]["by"]["status"]["enrolled"] is None
    assert_nothing_recoverable({"": before}, {"": figures}, hidden)


def test_two_hidden_ones_summing_to_two_are_not_left_alone():
    figures = {
        "referrals_received": {
            "total": 14,
            "by": {"source": {"hospital": 1, "self": 1, "ngo": 12}},
        }
    }
    before = copy.deepcopy(figures)
    hidden = deidentify(figures)
    assert "referrals_received.by.source.ngo" in hidden  # 1 + 1 = 2 would give both away
    assert_nothing_recoverable({"": before}, {"": figures}, hidden)


def test_a_site_cell_hidden_in_a_parent_and_its_sites_hides_a_second_site_and_category():
    parent = {"attendances": {"total": 30, "by": {"type": {"talk": 14, "group": 16}}}}
    north = {"attendances": {"total": 12, "by": {"type": {"talk": 3, "group": 9}}}}
    south = {"attendances": {"total": 18, "by": {"type": {"talk": 11, "group": 7}}}}
    tables = {"": parent, "sites.north": north, "sites.south": south}
    before = copy.deepcopy(tables)
    hidden = suppress(tables, None, [("", ["sites.north", "sites.south"])])
    assert "sites.north.attendances.by.type.talk" in hidden
    assert len([p for p in hidden if p.startswith("sites.south")]) >= 2
    assert_nothing_recoverable(before, tables, hidden)


def test_one_volunteers_hours_are_hidden_and_cannot_be_worked_out_from_the_total():
    figures = {"volunteer_hours": {"total": 40.5, "by": {"team": {"street": 2.5, "peer": 38.0}}}}
    people = {
        "volunteer_hours.total": 9,
        "volunteer_hours.by.team.street": 1,
        "volunteer_hours.by.team.peer": 8,
    }
    hidden = deidentify(figures, people)
    assert sorted(hidden) == ["volunteer_hours.by.team.peer", "volunteer_hours.by.team.street"]
    assert figures["volunteer_hours"]["total"] == 40.5


def test_an_outcome_hidden_for_a_site_hides_its_means_and_another_sites():
    stats = {
        "n_paired": 3,
        "mean_baseline": 2.0,
        "mean_latest": 3.0,
        "mean_change": 1.0,
        "pct_improved": 66.7,
    }
    big = {
        "n_paired": 9,
        "mean_baseline": 2.5,
        "mean_latest": 3.1,
        "mean_change": 0.6,
        "pct_improved": 55.6,
    }
    whole = {
        "n_paired": 12,
        "mean_baseline": 2.4,
        "mean_latest": 3.1,
        "mean_change": 0.7,
        "pct_improved": 58.3,
    }
    tables = {
        "": {"outcomes": {"brs": whole}},
        "sites.north": {"outcomes": {"brs": stats}},
        "sites.south": {"outcomes": {"brs": big}},
    }
    hidden = suppress(tables, None, [("", ["sites.north", "sites.south"])])
    assert "sites.south.outcomes.brs.n_paired" in hidden
    assert "sites.south.outcomes.brs.mean_change" in hidden  # a mean would give n away
    assert tables[""]["outcomes"]["brs"]["n_paired"] == 12
