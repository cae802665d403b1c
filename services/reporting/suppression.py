"""Complementary suppression of de-identified figures (docs/privacy.md, "How suppression works").

Plain Python, no I/O. A figure's ``total`` and each of its breakdowns ``by.<dim>`` form a *line*
(total = the sum of the cells), so do ``hours`` and ``hours_by.<dim>``, and, when a reply holds
a parent site's figures beside its sites' figures, each parent number and the same number of
every site. An attacker is assumed to know every shown number, every such line, that counts are
whole numbers of at least 1 when hidden (zeros are never hidden) and that hours are amounts of at
least 0. Primary suppression hides counts of 1–4, every statistic of a mean over fewer than 5
people and hours to which fewer than 5 people contributed; complementary suppression then hides
further numbers until every hidden number can take at least two values given all that, checked
exactly (``exposed``) rather than assumed from a rule of thumb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

SMALL = 5
"""Below this many people a number could point at someone."""

MANY_PER_PERSON = {
    ("people_registered", "role"),
    ("cases_opened", "role"),
    ("cases_active_end", "role"),
    ("unique_participants", "role"),
    ("volunteers_active", "team"),
    ("users_turned_volunteers", "team"),
}
"""Breakdowns where one person or case may count in several cells: the cells add up to the
total or more."""

PEOPLE_ACROSS_SITES = {"unique_participants", "volunteers_active", "users_turned_volunteers"}
"""Figures counting distinct people: someone active at two sites counts once for their parent,
so a parent's number is at most the sum of its sites'."""


@dataclass
class Cell:
    path: str
    value: Any
    amount: bool
    """Hours (a non-negative real), not a count (a whole number)."""
    with_it: tuple[str, ...] = ()
    """Numbers hidden whenever this one is (an outcome's means with its ``n_paired``)."""
    known: bool = True
    """Shown unless suppressed; False for numbers never published (unknown to anyone reading)."""
    prefix: str = ""
    """The figures it belongs to (a key of ``build``'s tables)."""


@dataclass
class Line:
    """``total`` = sum of ``parts`` (``exact``), or at most that sum with each part at most
    ``total`` (a breakdown counting a person in several cells; distinct people across sites)."""

    total: str
    parts: tuple[str, ...]
    exact: bool


@dataclass
class Table:
    """The numbers and lines of some figures, and those hidden so far."""

    cells: dict[str, Cell] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)

    def lines_of(self) -> dict[str, list[Line]]:
        found: dict[str, list[Line]] = {}
        for line in self.lines:
            for member in (line.total, *line.parts):
                found.setdefault(member, []).append(line)
        return found


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _add_figures(
    table: Table,
    prefix: str,
    figures: Mapping[str, Any],
    contributors: Mapping[str, int],
    known: bool,
) -> None:
    """The cells and lines of one set of figures (docs/figures.md's shapes)."""
    at = f"{prefix}." if prefix else ""
    for name, figure in figures.items():
        if not isinstance(figure, Mapping):
            continue
        if name == "outcomes":
            for instrument, stats in figure.items():
                n = stats.get("n_paired")
                if not _is_count(n):
                    continue
                here = f"{at}{name}.{instrument}"
                means = tuple(f"{here}.{k}" for k, v in stats.items() if k != "n_paired")
                table.cells[f"{here}.n_paired"] = Cell(
                    f"{here}.n_paired", n, False, means, known, prefix
                )
            continue
        for total_key, by_key in (("total", "by"), ("hours", "hours_by")):
            if total_key not in figure:
                continue
            total_path = f"{at}{name}.{total_key}"
            value = figure[total_key]
            amount = total_key == "hours" or isinstance(value, float)
            table.cells[total_path] = Cell(total_path, value, amount, known=known, prefix=prefix)
            for dim, cells in (figure.get(by_key) or {}).items():
                parts = []
                for code, part in cells.items():
                    path = f"{at}{name}.{by_key}.{dim}.{code}"
                    table.cells[path] = Cell(path, part, amount, known=known, prefix=prefix)
                    parts.append(path)
                exact = by_key == "hours_by" or (name, dim) not in MANY_PER_PERSON
                table.lines.append(Line(total_path, tuple(parts), exact))
    for path, cell in table.cells.items():
        if cell.prefix != prefix or cell.value is None:
            continue
        relative = path[len(at) :]
        if cell.amount:
            n = contributors.get(relative)
            small = n is not None and 0 < n < SMALL and cell.value > 0
        else:
            small = 0 < cell.value < SMALL
        if small or not known:
            table.hidden.add(path)


def build(
    tables: Mapping[str, Mapping[str, Any]],
    contributors: Mapping[str, Mapping[str, int]] | None = None,
    sums: Sequence[tuple[str, Sequence[str]]] = (),
) -> Table:
    """The joint table of several sets of figures, keyed by the path prefix their numbers are
    listed under (``""`` for the reply's own ``figures``, ``sites.likang`` for a site's).

    ``sums``: (whole, parts) where each number of ``whole`` is the sum of the same number of
    ``parts`` (a parent and its sites)."""
    contributors = contributors or {}
    table = Table()
    for prefix, figures in tables.items():
        _add_figures(table, prefix, figures, contributors.get(prefix, {}), True)
    for whole, parts in sums:
        at = f"{whole}." if whole else ""
        for path in [p for p, c in table.cells.items() if c.prefix == whole]:
            relative = path[len(at) :]
            members = tuple(f"{part}.{relative}" for part in parts)
            members = tuple(m for m in members if m in table.cells)
            figure = relative.split(".")[0]
            table.lines.append(Line(path, members, figure not in PEOPLE_ACROSS_SITES))
    return table


# --- the attacker's arithmetic --------------------------------------------------------------

UNITS = {False: 1, True: 10}
"""Whole units per number: counts move by one, hours by 0.1 h (their rounding)."""
BUDGET = 20_000
"""Moves tried per hidden number before it is taken as worked out (and more is hidden)."""


def _exact(value: Any) -> Fraction:
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


class _Reader:
    """What someone reading the shown numbers can do with the sums: for a hidden number, find
    another assignment of every hidden number that agrees with all that is shown, by moving
    each a step down, not at all or a step up (counts stay >= 1, hours >= 0). Such an assignment
    is one the reader cannot rule out, so the number is not recoverable. The sums here are
    those of a network flow (cells into totals, sites into their parent), where a number that
    can change at all can change by one step along a cycle of such moves."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.lines = [
            line
            for line in table.lines
            if any(m in table.hidden for m in (line.total, *line.parts))
            and all(table.cells[m].value is not None for m in (line.total, *line.parts))
        ]
        self.touching: dict[str, list[Line]] = {}
        for line in self.lines:
            for m in (line.total, *line.parts):
                self.touching.setdefault(m, []).append(line)
        # In whole units (tenths of hours), so that the sums are exact in integers.
        self.value = {
            p: int(_exact(c.value) * UNITS[c.amount])
            for p, c in table.cells.items()
            if c.value is not None
        }
        # A case with no role recorded makes a breakdown's sum fall short of its total: the
        # reader is credited with "sum >= total" only where it holds.
        self.covered = {
            id(line): sum(self.value[p] for p in line.parts) >= self.value[line.total]
            for line in self.lines
            if not line.exact
        }

    def _now(self, moves: dict[str, int], m: str) -> int:
        return self.value[m] + moves.get(m, 0)

    def _fits(self, moves: dict[str, int], line: Line) -> bool:
        members = (line.total, *line.parts)
        open_ = [m for m in members if m in self.table.hidden and m not in moves]
        if line.exact:
            change = sum(moves.get(m, 0) for m in line.parts) - moves.get(line.total, 0)
            reach = len(open_)
            return -reach <= change <= reach
        if open_:
            return True
        total = self._now(moves, line.total)
        if any(self._now(moves, p) > total for p in line.parts):
            return False
        parts = sum(self._now(moves, p) for p in line.parts)
        return parts >= total or not self.covered[id(line)]

    def _allowed(self, m: str, move: int) -> bool:
        floor = 0 if self.table.cells[m].amount else 1
        return self.value[m] + move >= floor

    def can_move(self, path: str) -> bool:
        order, seen, frontier = [], {path}, [path]
        while frontier:  # nearest first, so that sums close early
            current = frontier.pop(0)
            for line in self.touching.get(current, []):
                for m in (line.total, *line.parts):
                    if m in self.table.hidden and m not in seen:
                        seen.add(m)
                        order.append(m)
                        frontier.append(m)
        tries = [0]

        def search(moves: dict[str, int], at: int) -> bool:
            if at == len(order):
                return True
            tries[0] += 1
            if tries[0] > BUDGET:
                return False
            m = order[at]
            for move in (0, 1, -1):
                if not self._allowed(m, move):
                    continue
                moves[m] = move
                if all(self._fits(moves, line) for line in self.touching.get(m, [])):
                    if search(moves, at + 1):
                        return True
                del moves[m]
            return False

        for move in (1, -1):
            if not self._allowed(path, move):
                continue
            moves = {path: move}
            if all(self._fits(moves, line) for line in self.touching.get(path, [])):
                if search(moves, 0):
                    return True
        return False


def exposed(table: Table) -> list[str]:
    """The hidden, published numbers a reader might pin down to one value."""
    reader = _Reader(table)
    return [
        path
        for path in sorted(table.hidden)
        if table.cells[path].known
        and table.cells[path].value is not None
        and not reader.can_move(path)
    ]


# --- choosing what else to hide -------------------------------------------------------------


def _candidates(table: Table, line: Line, totals: set[str]) -> list[str]:
    """Shown, non-zero members of a line, best first: the smallest cell, a site's number before
    its parent's, a total only when no cell will do."""
    shown = [
        m
        for m in (line.total, *line.parts)
        if m not in table.hidden and table.cells[m].value not in (None, 0, 0.0)
    ]
    return sorted(shown, key=lambda m: (m in totals, _exact(table.cells[m].value), m.count("."), m))


def _unsafe(table: Table, line: Line) -> bool:
    """A line that on its own gives a hidden member away: exactly one member hidden, or, with
    its total shown, hidden counts that must all be 1."""
    members = (line.total, *line.parts)
    hidden = [m for m in members if m in table.hidden]
    if not hidden:
        return False
    if len(hidden) == 1:
        return True
    if line.total in table.hidden:
        return False
    cells = [table.cells[m] for m in hidden]
    if any(c.value is None for c in cells):
        return False
    if all(c.amount for c in cells):
        return sum(_exact(c.value) for c in cells) <= 0
    return sum(_exact(c.value) for c in cells) <= len(cells)


def complete(table: Table) -> None:
    """Hide further numbers until no hidden number can be worked out (in place)."""
    totals = {line.total for line in table.lines}
    by_member = table.lines_of()
    while True:
        changed = True
        while changed:
            changed = False
            for line in table.lines:
                if _unsafe(table, line):
                    choice = _candidates(table, line, totals)
                    if choice:
                        table.hidden.add(choice[0])
                        changed = True
        found = exposed(table)
        if not found:
            return
        for path in found:
            beside = _beside(table, path, by_member, totals)
            if beside is not None:
                table.hidden.add(beside)
                break
        else:
            return  # every non-zero number tied to them is hidden already


def _beside(
    table: Table, path: str, by_member: Mapping[str, list[Line]], totals: set[str]
) -> str | None:
    """The best number to hide beside ``path``: on a line through it, else on a line through
    the hidden numbers tied to it, nearest first."""
    seen, layer = {path}, [path]
    while layer:
        lines = [line for m in layer for line in by_member.get(m, [])]
        options = sorted(
            {c for line in lines for c in _candidates(table, line, totals)},
            key=lambda m: (m in totals, _exact(table.cells[m].value), m.count("."), m),
        )
        if options:
            return options[0]
        following = []
        for line in lines:
            for m in (line.total, *line.parts):
                if m in table.hidden and m not in seen:
                    seen.add(m)
                    following.append(m)
        layer = following
    return None


def apply(table: Table, tables: Mapping[str, dict[str, Any]]) -> list[str]:
    """Write ``None`` into ``tables`` for every hidden published number (and the means of an
    outcome whose ``n_paired`` is hidden); the paths hidden, in the figures' order."""
    suppressed: list[str] = []
    for path, cell in table.cells.items():
        if path not in table.hidden or not cell.known:
            continue
        for hide in (path, *cell.with_it):
            if _set_none(tables, hide):
                suppressed.append(hide)
    return suppressed


def _set_none(tables: Mapping[str, dict[str, Any]], path: str) -> bool:
    for prefix in sorted(tables, key=len, reverse=True):
        if prefix and not path.startswith(prefix + "."):
            continue
        keys = (path[len(prefix) + 1 :] if prefix else path).split(".")
        node: Any = tables[prefix]
        for key in keys[:-1]:
            node = node[key]
        if node[keys[-1]] is None:
            return False
        node[keys[-1]] = None
        return True
    return False


def suppress(
    tables: Mapping[str, dict[str, Any]],
    contributors: Mapping[str, Mapping[str, int]] | None = None,
    sums: Sequence[tuple[str, Sequence[str]]] = (),
) -> list[str]:
    """Primary and complementary suppression of ``tables`` jointly, in place (see ``build``);
    every hidden path."""
    table = build(tables, contributors, sums)
    complete(table)
    return apply(table, tables)


def deidentify(figures: dict[str, Any], contributors: Mapping[str, int] | None = None) -> list[str]:
    """One set of figures (a reply's ``figures``), in place; the hidden paths."""
    return suppress({"": figures}, {"": contributors or {}})


def deidentify_outcomes(overall: dict[str, Any], works: dict[str, Any]) -> list[str]:
    """An ``outcomes`` reply's overall statistics and its "what works" splits, in place: each
    split's people who attended and those who did not add up to the overall ``n_paired``, so
    they are suppressed together (paths ``overall.…`` and ``what_works.…``)."""
    reply = {"overall": overall, "what_works": works}
    table = Table()

    def add(path: str, stats: dict[str, Any]) -> str:
        n = stats["n_paired"]
        means = tuple(f"{path}.{k}" for k in stats if k != "n_paired")
        table.cells[f"{path}.n_paired"] = Cell(f"{path}.n_paired", n, False, means)
        if 0 < n < SMALL:
            table.hidden.add(f"{path}.n_paired")
        return f"{path}.n_paired"

    whole = add("overall", overall)
    for kind, splits in works.items():
        for code, split in splits.items():
            parts = tuple(add(f"what_works.{kind}.{code}.{side}", split[side]) for side in split)
            table.lines.append(Line(whole, parts, True))
    complete(table)
    return apply(table, {"": reply})
