"""What someone reading de-identified figures can work out: the test's own reading of
docs/figures.md's sums, and a search for a second assignment of the hidden numbers that agrees
with everything shown (found for every hidden number: none can be recovered).

The reader knows every shown number, every sum, that hidden counts are whole numbers >= 1 (zeros
are never hidden) and hidden hours amounts >= 0. The search moves each hidden number a step
down, not at all or a step up (counts by one, hours by 0.1 h, their rounding) from its true
value; an assignment so found is one the reader cannot rule out.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

MANY = {
    ("people_registered", "role"),
    ("cases_opened", "role"),
    ("cases_active_end", "role"),
    ("unique_participants", "role"),
    ("volunteers_active", "team"),
    ("users_turned_volunteers", "team"),
}
"""Breakdowns counting a person (or case) in each of their roles or teams."""
PEOPLE = ("unique_participants", "volunteers_active", "users_turned_volunteers")
"""Distinct people: a parent's number is at most its sites' sum."""


def _published(path: str) -> bool:
    """Numbers that sums tie: counts, hours, outcomes' ``n_paired`` (their means go with it)."""
    return ".outcomes." not in f".{path}" or path.endswith(".n_paired")


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


def sums(tables: dict[str, dict[str, Any]]) -> list[Sum]:
    """The test's own reading of docs/figures.md: totals of breakdowns, hours of hours_by, a
    parent of its sites (distinct people: at most the sites' sum)."""
    found = []
    for prefix, figures in tables.items():
        at = f"{prefix}." if prefix else ""
        for name, figure in figures.items():
            for total, by in (("total", "by"), ("hours", "hours_by")):
                for dim, cells in figure.get(by, {}).items():
                    parts = tuple(f"{at}{name}.{by}.{dim}.{code}" for code in cells)
                    exact = by == "hours_by" or (name, dim) not in MANY
                    found.append(Sum(f"{at}{name}.{total}", parts, exact))
    if len(tables) > 1:
        parent = numbers({"": tables[""]})
        everything = numbers(tables)
        for path in filter(_published, parent):
            parts = tuple(f"{s}.{path}" for s in tables if s and f"{s}.{path}" in everything)
            found.append(Sum(path, parts, not path.startswith(PEOPLE)))
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
    hidden = sorted(
        p for p, v in after.items() if v is None and before[p] is not None and _published(p)
    )
    # In tenths for hours, so that every sum is exact in integers.
    true = {
        p: int(Fraction(str(v)) * (10 if p in hours else 1))
        for p, v in before.items()
        if v is not None
    }
    low = {p: 0 if p in hours else 1 for p in hidden}
    relevant = [line for line in lines if any(m in hidden for m in (line.total, *line.parts))]
    # A case with no role makes a breakdown fall short of its total: "total <= sum" only where
    # it holds.
    covered = {
        line: true[line.total] <= sum(true[p] for p in line.parts)
        for line in relevant
        if not line.exact
    }
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
        parts = sum(value(moves, p) for p in line.parts)
        return all(value(moves, p) <= total for p in line.parts) and (
            total <= parts or not covered[line]
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
    """Every hidden number is listed, none is a zero, and none can be worked out."""
    lines = sums(before)
    was, now = numbers(before), numbers(after)
    hidden = {p for p, v in now.items() if v is None and was[p] is not None}
    assert hidden == {p for p in suppressed if p in was}
    assert len(suppressed) == len(set(suppressed))
    for path in hidden:
        assert was[path] != 0, f"{path}: a zero is never hidden"
    hours = {p for p in was if ".hours" in p or "volunteer_hours." in p}
    for path, values in alternatives(was, now, lines, hours).items():
        assert len(values) >= 2, f"{path} = {was[path]} can be worked out: {now}"
