"""Reporting's rules: whom a figure covers, periods, rounding, paired outcomes, "what works",
suppression, targets and when a month's summary goes out.

Plain Python, no I/O: the SQL that gathers rows is in ``views.py``, the figures' arithmetic in
``figures.py``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.agency.instruments import Instrument
from shared.agency.sites import Organisation
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.reporting import PeriodRange

# Below this many people a count or a mean could point at someone (docs/figures.md).
SMALL = 5
ALL = "*"


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def as_json(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def month(self) -> str:
        """``2026-10`` for a month (a period's first month otherwise)."""
        return f"{self.start:%Y-%m}"


@dataclass(frozen=True)
class Reporting:
    """What reporting's queries and tasks know besides the read models."""

    organisation: Organisation
    instruments: dict[str, Instrument]
    served: tuple[str, ...] | None
    """The sites this instance consumes events of, or None for every site."""

    def sites_of(self, site: str) -> list[str] | None:
        """The sites a figure for ``site`` covers (None: every site); refuses what this
        instance cannot answer for."""
        if site == ALL:
            if self.served is not None:
                raise CommandError.not_allowed(
                    "this reporting instance serves only some sites; ask one serving every site",
                    site="all sites",
                )
            return None
        try:
            sites = self.organisation.with_descendants(site)
        except KeyError:
            raise CommandError.not_found("site", "site") from None
        if self.served is not None:
            missing = [s for s in sites if s not in self.served]
            if missing:
                raise CommandError.not_allowed(
                    f"this reporting instance does not serve {', '.join(missing)}",
                    site="not served here",
                )
        return sites

    def mode(self, site: str, exact: bool) -> str:
        if exact and site == ALL:
            raise CommandError.not_allowed(
                "exact figures are given for one site only; all sites are de-identified",
                exact="only for one site",
            )
        return "exact" if exact else "deidentified"


def parse_period(value: PeriodRange | str) -> Period:
    """``2026-11``, ``2026-Q3``, ``2026`` or a ``{from, to}`` range (inclusive)."""
    if isinstance(value, PeriodRange):
        return Period(value.from_date, value.to_date)
    year = int(value[:4])
    if len(value) == 4:
        return Period(date(year, 1, 1), date(year, 12, 31))
    if value[5] == "Q":
        quarter = int(value[6])
        first = 3 * (quarter - 1) + 1
        return Period(date(year, first, 1), month_end(year, first + 2))
    month = int(value[5:7])
    return Period(date(year, month, 1), month_end(year, month))


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def month_period(day: date) -> Period:
    return Period(day.replace(day=1), month_end(day.year, day.month))


def previous_month(day: date) -> Period:
    first = day.replace(day=1)
    year, month = (first.year - 1, 12) if first.month == 1 else (first.year, first.month - 1)
    return Period(date(year, month, 1), month_end(year, month))


def closed_month(month: str, today: date) -> Period:
    """The month ``2026-10`` as a period, refused until it has ended."""
    year, number = (int(part) for part in month.split("-"))
    period = month_period(date(year, number, 1))
    if period.end >= today:
        raise CommandError.not_allowed("the month has not closed yet", month="not closed")
    return period


def due_month(today: date, publish_day: int) -> Period | None:
    """The month to publish on ``today``: last month, from its next month's ``publish_day``
    (0: never by itself, only by the ``publish_summary`` command)."""
    return previous_month(today) if publish_day and today.day >= publish_day else None


def hours(minutes: int) -> float:
    """Minutes as hours to 0.1 h, halves rounded up (docs/figures.md)."""
    return float((Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _round(value: Decimal, places: str) -> float:
    return float(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


# --- paired outcomes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    person_id: Any
    site: str
    timepoint: str
    score: Decimal
    on: date
    recorded_at: datetime


@dataclass(frozen=True)
class Pair:
    person_id: Any
    site: str
    baseline: Score
    latest: Score


def pairs(
    scores: Iterable[Score], period: Period, sites: set[str] | None, consenting: set[Any]
) -> list[Pair]:
    """People with a baseline and a later post/follow-up score dated in the period.

    The baseline is the person's first; the later score is their last post or follow-up score
    in the period, on or after the baseline's date, at one of ``sites`` (None: any). Only
    people in ``consenting`` (latest ``outcome_data`` consent given) are counted.
    """
    by_person: dict[Any, list[Score]] = {}
    for score in scores:
        by_person.setdefault(score.person_id, []).append(score)
    found = []
    for person, own in by_person.items():
        if person not in consenting:
            continue
        baselines = sorted(
            (s for s in own if s.timepoint == "baseline"), key=lambda s: (s.on, s.recorded_at)
        )
        if not baselines:
            continue
        baseline = baselines[0]
        later = sorted(
            (
                s
                for s in own
                if s.timepoint in ("post", "follow_up")
                and period.start <= s.on <= period.end
                and s.on >= baseline.on
            ),
            key=lambda s: (s.on, s.recorded_at),
        )
        if not later:
            continue
        latest = later[-1]
        if sites is not None and latest.site not in sites:
            continue
        found.append(Pair(person, latest.site, baseline, latest))
    return found


def outcome_stats(instrument: Instrument, found: Sequence[Pair]) -> dict[str, Any]:
    """``n_paired``, means of baseline, latest and change (2 decimals), ``pct_improved`` (1)."""
    n = len(found)
    if n == 0:
        return {
            "n_paired": 0,
            "mean_baseline": None,
            "mean_latest": None,
            "mean_change": None,
            "pct_improved": None,
        }
    baseline = sum((p.baseline.score for p in found), Decimal(0))
    latest = sum((p.latest.score for p in found), Decimal(0))
    improved = sum(1 for p in found if instrument.improved(p.baseline.score, p.latest.score))
    return {
        "n_paired": n,
        "mean_baseline": _round(baseline / n, "0.01"),
        "mean_latest": _round(latest / n, "0.01"),
        "mean_change": _round((latest - baseline) / n, "0.01"),
        "pct_improved": _round(Decimal(improved * 100) / n, "0.1"),
    }


MEANS = ("mean_baseline", "mean_latest", "mean_change", "pct_improved")


# --- what works -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldSession:
    """A session held and not cancelled, with its latest attendance."""

    on: date
    programme_type: str
    tags: Sequence[str]
    present: Sequence[Any]


def what_works(
    instrument: Instrument,
    found: Sequence[Pair],
    sessions: Iterable[HeldSession],
    types: Sequence[str],
    tags: Sequence[str],
) -> dict[str, Any]:
    """Per programme type and tag: the outcomes of the people who attended one of its sessions
    between their baseline and their later score (both dates included), and of the others."""
    held = list(sessions)
    by_type: dict[str, set[Any]] = {t: set() for t in types}
    by_tag: dict[str, set[Any]] = {t: set() for t in tags}
    for pair in found:
        for session in held:
            if pair.person_id not in session.present:
                continue
            if not pair.baseline.on <= session.on <= pair.latest.on:
                continue
            by_type.setdefault(session.programme_type, set()).add(pair.person_id)
            for tag in session.tags:
                by_tag.setdefault(tag, set()).add(pair.person_id)

    def split(attended: set[Any]) -> dict[str, Any]:
        return {
            "attended": outcome_stats(instrument, [p for p in found if p.person_id in attended]),
            "not_attended": outcome_stats(
                instrument, [p for p in found if p.person_id not in attended]
            ),
        }

    return {
        "programme_type": {t: split(seen) for t, seen in by_type.items()},
        "tag": {t: split(seen) for t, seen in sorted(by_tag.items())},
    }


# --- de-identification ----------------------------------------------------------------------


def deidentify(figures: dict[str, Any]) -> list[str]:
    """Suppress, in place, counts of 1–4 and means over fewer than 5 people; the paths.

    Primary suppression only: kept for "what works" beside exact figures (small groups compared
    say more about people than programmes). De-identified figures go through
    ``suppression.py``, which also hides what would let these be worked out.
    """
    suppressed: list[str] = []

    def outcome(stats: dict[str, Any], path: str) -> None:
        n = stats.get("n_paired", stats.get("n"))
        if isinstance(n, int) and 0 < n < SMALL:
            for key, value in stats.items():
                if value is not None:
                    stats[key] = None
                    suppressed.append(f"{path}.{key}")

    def walk(node: dict[str, Any], path: str) -> None:
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if isinstance(value, dict):
                if "n_paired" in value or "n" in value:
                    outcome(value, here)
                else:
                    walk(value, here)
            elif isinstance(value, int) and not isinstance(value, bool) and 0 < value < SMALL:
                node[key] = None
                suppressed.append(here)

    walk(figures, "")
    return suppressed


# --- targets --------------------------------------------------------------------------------


def site_targets(organisation_sites: Iterable[Any], codes: Iterable[str]) -> dict[str, float]:
    """Yearly targets of the sites (a site table's ``targets``), summed per figure."""
    wanted = set(codes)
    totals: dict[str, float] = {}
    for site in organisation_sites:
        if site.code not in wanted:
            continue
        table = (site.model_extra or {}).get("targets") or {}
        if not isinstance(table, Mapping):
            raise ValueError(f"site {site.code}: targets must be a table of figure = number")
        for figure, value in table.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"site {site.code}: target {figure} must be a number ≥ 0")
            totals[figure] = totals.get(figure, 0.0) + float(value)
    return totals


def achievement(
    targets: Mapping[str, float], figures: Mapping[str, Any], period: Period
) -> dict[str, Any]:
    """Each target pro-rated to the period's days, and the figure's share of it.

    A yearly target of 120 gives 10.2 for a 31-day month (120 × 31 / 365); a year gives 120.
    """
    days_in_year = 366 if calendar.isleap(period.start.year) else 365
    result: dict[str, Any] = {}
    for figure, yearly in sorted(targets.items()):
        share = Decimal(str(yearly)) * period.days / days_in_year
        actual = (figures.get(figure) or {}).get("total")
        pct = (
            _round(Decimal(str(actual)) * 100 / share, "0.1")
            if actual is not None and share > 0
            else None
        )
        result[figure] = {
            "yearly_target": yearly,
            "target_for_period": _round(share, "0.1"),
            "actual": actual,
            "pct_of_target": pct,
        }
    return result
