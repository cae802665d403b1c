"""Complementary suppression holds against arithmetic: for random figure sets (several
breakdowns, a parent with its sites, hours with the people behind them) no hidden number can be
worked out from the shown ones, the sums that tie them and what anyone knows of counts and hours.

The proof is by enumeration, independent of ``suppression.py``'s own check: every hidden number
is given whole values (hours: half hours) in a box around the true ones, and each must take at
least two values among the assignments that agree with everything shown. An assignment found in
the box is one the reader cannot rule out, so two of them prove the number is not recoverable.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis import given

from services.reporting.suppression import SMALL, deidentify, suppress

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


# --- what the reader knows ------------------------------------------------------------------


@dataclass(frozen=True)
class Sum:
    """``total`` = sum(``parts``), or (``exact`` False) each part <= total <= sum(parts)."""

    total: str
    parts: tuple[str, ...]
    exact: bool


def numbers(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every number of the figures by its path, as the reply names it."""
    out: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        else:
            out[path] = node

    for prefix, figures in tables.items():
        walk(figures, prefix)
    return out


def sums(tables: dict[str, dict[str, Any]], many: set[tuple[str, str]]) -> list[Sum]:
    """The test's own reading of docs/figures.md: totals of breakdowns, hours of hours_by, a
    parent of its sites (distinct people: at most the sites' sum)."""
    found = []
    for prefix, figures in tables.items():
        at = f"{prefix}." if prefix else ""
        for name, figure in figures.items():
            for total, by in (("total", "by"), ("hours", "hours_by")):
                for dim, cells in figure.get(by, {}).items():
                    parts = tuple(f"{at}{name}.{by}.{dim}.{code}" for code in cells)
                    exact = by == "hours_by" or (name, dim) not in many
                    found.append(Sum(f"{at}{name}.{total}", parts, exact))
    if len(tables) > 1:
        parent = numbers({"": tables[""]})
        for path in parent:
            parts = tuple(f"sites.{s}.{path}" for s in tables if s and f"{s}.{path}")
            parts = tuple(f"{s}.{path}" for s in tables if s)
            found.append(Sum(path, parts, not path.startswith("unique_participants")))
    return found


def alternatives(
    before: dict[str, Any], after: dict[str, Any], lines: list[Sum], hours: set[str]
) -> dict[str, set[int]]:
    """For each hidden number, two values it can take in assignments that agree with the shown
    numbers and the sums (one value: it can be worked out).

    The other assignment is searched for as a move of every hidden number by -1, 0 or +1 (hours:
    half an hour) from the true values: counts stay >= 1 and hours >= 0. A move found is an
    assignment the reader cannot rule out; the sums here are those of a network flow, where a
    number that can change at all can change by one step along a cycle of such moves.
    """
    hidden = sorted(p for p, v in after.items() if v is None and before[p] is not None)
    # In half hours for hours, so that every sum is exact in integers.
    true = {p: int(Fraction(str(v)) * (2 if p in hours else 1)) for p, v in before.items()
            if v is not None}
    low = {p: 0 if p in hours else 1 for p in hidden}
    relevant = [line for line in lines if any(m in hidden for m in (line.total, *line.parts))]
    touching: dict[str, list[Sum]] = {}
    for line in relevant:
        for m in (line.total, *line.parts):
            touching.setdefault(m, []).append(line)

    def value(moves: dict[str, int], m: str) -> int:
        return true[m] + moves.get(m, 0)

    def feasible(moves: dict[str, int], line: Sum) -> bool:
        members = (line.total, *line.parts)
        open_ = [m for m in members if m in hidden and m not in moves]
        if line.exact:
            # parts - total must stay as it is: what is still open must make up the rest.
            fixed = sum(moves.get(m, 0) for m in line.parts) - moves.get(line.total, 0)
            return -len(open_) <= fixed <= len(open_)
        if open_:
            return True
        total = value(moves, line.total)
        return all(value(moves, p) <= total for p in line.parts) and total <= sum(
            value(moves, p) for p in line.parts
        )

    def search(moves: dict[str, int], order: list[str]) -> bool:
        if not order:
            return True
        first, *rest = order
        for move in (0, 1, -1):
            if true[first] + move < low[first]:
                continue
            moves[first] = move
            if all(feasible(moves, line) for line in touching.get(first, [])) and search(
                moves, rest
            ):
                return True
            del moves[first]
        return False

    found: dict[str, set[int]] = {}
    for path in hidden:
        # Nearest numbers first, so that sums close early and prune.
        order, seen = [], {path}
        frontier = [path]
        while frontier:
            current = frontier.pop(0)
            for line in touching.get(current, []):
                for m in (line.total, *line.parts):
                    if m in hidden and m not in seen:
                        seen.add(m)
                        order.append(m)
                        frontier.append(m)
        values = {true[path]}
        for move in (1, -1):
            moves = {path: move}
            if true[path] + move < low[path]:
                continue
            if all(feasible(moves, line) for line in touching.get(path, [])) and search(
                moves, order
            ):
                values.add(value(moves, path))
                break
        found[path] = values
    return found


def assert_nothing_recoverable(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], suppressed: list[str]
) -> None:
    many = {("cases_opened", "role"), ("unique_participants", "role")}
    lines = sums(before, many)
    was, now = numbers(before), numbers(after)
    hidden = {p for p, v in now.items() if v is None and was[p] is not None}
    assert hidden == set(suppressed)
    assert len(suppressed) == len(set(suppressed))
    for path in hidden:
        assert was[path] != 0, f"{path}: a zero is never hidden"
    hours = {p for p in was if ".hours" in p or p.startswith(("volunteer_hours", "sites."))
             and "volunteer_hours" in p}
    for path, values in alternatives(was, now, lines, hours).items():
        assert len(values) >= 2, f"{path} = {was[path]} can be worked out: {now}"


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
            "by": {"mode": {m: sum(n for n, _, _ in per) for m, per in zip(MODES, contacts)}},
            "hours_by": {
                "mode": {m: sum(h for _, _, h in per) / 2 for m, per in zip(MODES, contacts)}
            },
        },
        "volunteer_hours": {
            "total": sum(h for per in hours for _, h in per) / 2,
            "by": {"team": {t: sum(h for _, h in per) / 2 for t, per in zip(TEAMS, hours)}},
        },
    }
    # Nobody is in two modes or teams: the parent's people are the sites' added up.
    contributors = {
        "case_contacts.hours": sum(k for per in contacts for _, k, _ in per),
        **{
            f"case_contacts.hours_by.mode.{m}": sum(k for _, k, _ in per)
            for m, per in zip(MODES, contacts)
        },
        "volunteer_hours.total": sum(k for per in hours for k, _ in per),
        **{
            f"volunteer_hours.by.team.{t}": sum(k for k, _ in per)
            for t, per in zip(TEAMS, hours)
        },
    }
    return f, contributors


@st.composite
def figure_sets(draw: st.DrawFn) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, int]]]:
    """One or two figures of a parent alone, or with its sites' (the parent's their sum)."""
    names = sorted(draw(st.sets(st.sampled_from(sorted(FIGURE_ITEMS)), min_size=1, max_size=2)))
    roles = dict(enumerate(draw(st.lists(
        st.frozensets(st.sampled_from(ROLES), min_size=1), min_size=10, max_size=10
    ))))
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
    stats = {"n_paired": 3, "mean_baseline": 2.0, "mean_latest": 3.0, "mean_change": 1.0,
             "pct_improved": 66.7}
    big = {"n_paired": 9, "mean_baseline": 2.5, "mean_latest": 3.1, "mean_change": 0.6,
           "pct_improved": 55.6}
    whole = {"n_paired": 12, "mean_baseline": 2.4, "mean_latest": 3.1, "mean_change": 0.7,
             "pct_improved": 58.3}
    tables = {
        "": {"outcomes": {"brs": whole}},
        "sites.north": {"outcomes": {"brs": stats}},
        "sites.south": {"outcomes": {"brs": big}},
    }
    hidden = suppress(tables, None, [("", ["sites.north", "sites.south"])])
    assert "sites.south.outcomes.brs.n_paired" in hidden
    assert "sites.south.outcomes.brs.mean_change" in hidden  # a mean would give n away
    assert tables[""]["outcomes"]["brs"]["n_paired"] == 12


def _unused() -> Iterator[None]:  # pragma: no cover
    yield None
