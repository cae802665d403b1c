"""The month's report for a site (reporting's ``summary`` and ``outcomes``), with charts drawn
on the server as SVG, and the same figures to download as CSV or an Excel workbook (the
formats of ``carenet report``, ``shared.kit.contracts.summary_export``).

Exact figures are asked for only when the user may have them (a centre manager of that very
site); everyone else, analysts included, gets the de-identified figures, small counts shown
as "x"."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.access import may_use
from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.labels import PROGRAMME_TYPES
from services.console.web import NAV, Page, console_of, render, sites_of
from shared.kit.contracts import summary_export as export

SUMMARY = ("reporting", "summary")
OUTCOMES = ("reporting", "outcomes")
PAGE = NAV.add(Page("/report", N_("Month's report"), requests=(SUMMARY,), order=80))

INSTRUMENTS: dict[str, str] = {
    "brs": N_("Brief Resilience Scale (BRS)"),
    "k6": N_("Kessler distress scale, 6 items (K6)"),
    "k10": N_("Kessler distress scale, 10 items (K10)"),
    "phq9": N_("Depression (PHQ-9)"),
    "gad7": N_("Anxiety (GAD-7)"),
}
HEADLINE = (
    "people_registered",
    "referrals_received",
    "cases_opened",
    "case_contacts",
    "sessions_held",
    "attendances",
    "unique_participants",
    "volunteer_hours",
)
"""The figures shown first, as large numbers; every figure is in the table below them."""

router = APIRouter()


@dataclass(frozen=True)
class Bar:
    label: str
    """Translated where it is drawn (``_``): an ``N_`` string or a code."""
    value: float | None
    """None: suppressed (fewer than 5 people), drawn as "x" with no bar."""
    series: int = 0


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart, laid out here and drawn as inline SVG by ``report/chart.html``
    (no script: the page's CSP allows none inline)."""

    bars: list[Bar]
    series: tuple[str, ...] = ()
    """The legend, in series order (``N_`` strings): a category's bars, one per series.
    Without one, every bar is a category of its own, named by its label."""
    label_width: int = 220
    bar_width: int = 360
    bar_height: int = 22
    gap: int = 10

    @property
    def top(self) -> float:
        return max((bar.value or 0 for bar in self.bars), default=0) or 1

    def length(self, bar: Bar) -> float:
        return round(self.bar_width * (bar.value or 0) / self.top, 1)

    def y(self, index: int) -> int:
        """Bars of one category sit together; categories are a gap apart."""
        per = len(self.series) or 1
        legend = 24 if self.series else 4
        return index * self.bar_height + (index // per) * self.gap + legend

    @property
    def height(self) -> int:
        return self.y(len(self.bars)) + self.gap

    @property
    def width(self) -> int:
        return self.label_width + self.bar_width + 60


def month_of(text: str, today: date) -> str:
    """``YYYY-MM`` if ``text`` is one, else this month."""
    try:
        return datetime.strptime(text, "%Y-%m").strftime("%Y-%m")
    except ValueError:
        return today.strftime("%Y-%m")


def months_around(month: str) -> tuple[str, str]:
    year, number = (int(part) for part in month.split("-"))
    before = f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"
    after = f"{year + 1}-01" if number == 12 else f"{year}-{number + 1:02d}"
    return before, after


def may_have_exact(staff: SignedIn, site: str) -> bool:
    """Reporting gives exact figures to a centre manager whose own sites name ``site``."""
    return "centre_manager" in staff.roles and site in staff.account.sites


def shown(value: Any) -> Any:
    return export.SUPPRESSED if value is None else value


def by_programme_type(figures: dict[str, Any]) -> Chart:
    sessions = figures["sessions_held"]["by"].get("type", {})
    attendances = figures["attendances"]["by"].get("type", {})
    bars: list[Bar] = []
    others = sorted((set(sessions) | set(attendances)) - set(PROGRAMME_TYPES))
    for code in [*PROGRAMME_TYPES, *others]:
        held, came = sessions.get(code, 0), attendances.get(code, 0)
        if held == 0 and came == 0:
            continue
        label = PROGRAMME_TYPES.get(code, code)
        bars += [Bar(label, held, 0), Bar(label, came, 1)]
    return Chart(bars, (N_("Sessions held"), N_("Attendances")))


def outcome_charts(figures: dict[str, Any]) -> dict[str, Chart]:
    """Per instrument with paired scores: the mean at baseline and at the latest score."""
    charts = {}
    for code, stats in figures.get("outcomes", {}).items():
        if stats.get("n_paired") == 0:
            continue
        bars = [
            Bar(N_("Baseline"), stats.get("mean_baseline"), 0),
            Bar(N_("Latest"), stats.get("mean_latest"), 1),
        ]
        charts[code] = Chart(bars, label_width=90, bar_width=200, gap=4)
    return charts


async def _summary(request: Request, staff: SignedIn, site: str, month: str) -> tuple[Form, Any]:
    asked = Form.blank(site=site, month=month)
    payload = {"site": site, "period": month, "exact": may_have_exact(staff, site)}
    reply = await asked.send(console_of(request).gateway, staff, SUMMARY, payload)
    return asked, reply.result if reply.ok else None


def _choices(request: Request, staff: SignedIn, site: str, month: str) -> tuple[str, str]:
    console = console_of(request)
    today = datetime.now(console.settings.organisation.zone).date()
    choices = sites_of(console, staff.account)
    return (site if site in choices else staff.site), month_of(month, today)


@router.get("/report")
async def report(
    request: Request,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    month: str = "",
    site: str = "",
) -> Response:
    site, month = _choices(request, staff, site, month)
    asked, summary = await _summary(request, staff, site, month)
    context: dict[str, Any] = {
        "asked": asked,
        "summary": summary,
        "site": site,
        "month": month,
        "months": months_around(month),
        "choices": sites_of(console_of(request), staff.account),
        "labels": export.LABELS,
        "programme_types": PROGRAMME_TYPES,
        "instruments": INSTRUMENTS,
        "headline": HEADLINE,
        "shown": shown,
        "works": {},
    }
    if summary is not None:
        figures = summary["figures"]
        context["by_type"] = by_programme_type(figures)
        context["outcome_charts"] = outcome_charts(figures)
        if may_use(staff.roles, (OUTCOMES,)):
            context["works"] = await _what_works(request, staff, site, month, figures)
    return render(request, "report/month.html", context, staff=staff)


async def _what_works(
    request: Request, staff: SignedIn, site: str, month: str, figures: dict[str, Any]
) -> dict[str, Any]:
    """Reporting's ``outcomes`` of each instrument with paired scores: the change of those who
    attended each programme type against the others'."""
    found: dict[str, Any] = {}
    gateway = console_of(request).gateway
    for code, stats in figures.get("outcomes", {}).items():
        if stats.get("n_paired") == 0:
            continue
        payload = {"instrument": code, "site": site, "period": month}
        reply = await gateway.send(staff.token, site, OUTCOMES, payload)
        if reply.ok and reply.result is not None:
            found[code] = reply.result["what_works"]["programme_type"]
    return found


@router.get("/report/download")
async def download(
    request: Request,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    month: str = "",
    site: str = "",
    format: str = "csv",
) -> Response:
    site, month = _choices(request, staff, site, month)
    _asked, summary = await _summary(request, staff, site, month)
    if summary is None:
        # The page says why (refused, or reporting not answering).
        return RedirectResponse(f"/report?{urlencode({'month': month, 'site': site})}", 303)
    name = f"carenet-{site}-{month}"
    if format == "xlsx":
        book = io.BytesIO()
        export.to_xlsx(summary, book)
        return Response(
            book.getvalue(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return Response(
        export.to_csv(summary),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
