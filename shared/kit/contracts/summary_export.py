"""A ``reporting.summary`` reply for people: a table, CSV, JSON or an Excel workbook a funder
can open. Suppressed numbers show as ``x``: small ones and those hidden so that a small one
cannot be worked out look alike (``<5`` would claim every hidden number is under 5). Used by
``carenet report`` and by the console's report page (its downloads are these very files), so it
lives with the reply's contract."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

SUPPRESSED = "x"
NOTE = "x: not shown; fewer than 5 people, or a number from which such a one could be worked out."

LABELS = {
    "referrals_received": "Referrals received",
    "referrals_decided": "Referral decisions",
    "people_registered": "People registered",
    "cases_opened": "Cases opened",
    "case_contacts": "Casework contacts",
    "cases_closed": "Cases closed",
    "cases_active_end": "Cases active at period end",
    "goals_met": "Care-plan goals met",
    "carers_linked": "Carers linked",
    "sessions_held": "Sessions held",
    "sessions_cancelled": "Sessions cancelled",
    "attendances": "Attendances",
    "unique_participants": "Unique participants",
    "enrolments": "Enrolments",
    "volunteers_active": "Active volunteers",
    "volunteer_hours": "Volunteer hours",
    "volunteer_assignments": "Volunteer duties assigned",
    "users_turned_volunteers": "Service users turned volunteers",
    "peer_matches_started": "Peer matches started",
    "peer_matches_active_end": "Peer matches active at period end",
    "peer_contacts": "Peer contacts",
    "outreach_contacts": "Outreach contacts (not registered)",
    "outcomes": "Outcomes",
}
COLUMNS = ("figure", "breakdown", "category", "value")


def _shown(value: Any) -> Any:
    return SUPPRESSED if value is None else value


def rows(summary: dict[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """(figure, breakdown, category, value) for every number in the summary."""
    for name, figure in summary["figures"].items():
        if name == "outcomes":
            for instrument, stats in figure.items():
                for stat, value in stats.items():
                    shown = "" if value is None and stats.get("n_paired") == 0 else _shown(value)
                    yield name, instrument, stat, shown
            continue
        yield name, "total", "", _shown(figure["total"])
        if "hours" in figure:
            yield name, "hours", "", _shown(figure["hours"])
        for dimension, values in figure.get("by", {}).items():
            for code, value in values.items():
                yield name, dimension, code, _shown(value)
        for dimension, values in figure.get("hours_by", {}).items():
            for code, value in values.items():
                yield name, f"hours by {dimension}", code, _shown(value)


def heading(summary: dict[str, Any]) -> str:
    period = summary["period"]
    return (
        f"carenet report: site {summary['site']}, {period['from']} to {period['to']}, "
        f"{summary['mode']} figures"
    )


def table(summary: dict[str, Any]) -> str:
    """A plain-text report: each figure's total, then its breakdowns indented (zeros left out)."""
    out = [heading(summary), ""]
    current = None
    for name, breakdown, category, value in rows(summary):
        if name != current:
            current = name
            if name == "outcomes":
                out.append("Outcomes")
        label = LABELS.get(name, name)
        if name == "outcomes":
            if value != "":
                out.append(f"    {breakdown:<10} {category:<24} {value:>10}")
        elif breakdown == "total":
            out.append(f"{label:<42} {value!s:>10}")
        elif value not in (0, 0.0):
            what = f"{breakdown}: {category}" if category else breakdown
            out.append(f"    {what:<38} {value!s:>10}")
    if summary.get("achievement"):
        out += ["", "Against targets (" + summary["achievement"]["basis"] + ")"]
        for name, line in summary["achievement"]["figures"].items():
            pct = "" if line["pct_of_target"] is None else f"{line['pct_of_target']}%"
            out.append(
                f"{LABELS.get(name, name):<42} {_shown(line['actual'])!s:>10} of "
                f"{line['target_for_period']:>8}  {pct}"
            )
    if summary["suppressed"]:
        out += ["", f"{NOTE[:-1]} ({len(summary['suppressed'])})"]
    return "\n".join(out) + "\n"


def to_csv(summary: dict[str, Any]) -> str:
    """One row per number, with the site and period on every row (sorts and filters well)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("site", "from", "to", "mode", *COLUMNS))
    period = summary["period"]
    for row in rows(summary):
        writer.writerow((summary["site"], period["from"], period["to"], summary["mode"], *row))
    return buffer.getvalue()


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def to_xlsx(summary: dict[str, Any], path: Path | IO[bytes]) -> None:
    """The workbook, written to a file or to a binary stream (a download)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Summary"
    sheet.append([heading(summary)])
    sheet["A1"].font = Font(bold=True)
    sheet.append(["site", summary["site"]])
    sheet.append(["from", summary["period"]["from"]])
    sheet.append(["to", summary["period"]["to"]])
    sheet.append(["mode", summary["mode"]])
    sheet.append([])
    sheet.append([c.capitalize() for c in COLUMNS])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for name, breakdown, category, value in rows(summary):
        sheet.append([LABELS.get(name, name), breakdown, category, value])
    for column, width in zip("ABCD", (36, 22, 26, 12), strict=True):
        sheet.column_dimensions[column].width = width
    if summary.get("achievement"):
        targets = book.create_sheet("Targets")
        targets.append(["Figure", "Yearly target", "Target for period", "Actual", "% of target"])
        for name, line in summary["achievement"]["figures"].items():
            targets.append(
                [
                    LABELS.get(name, name),
                    line["yearly_target"],
                    line["target_for_period"],
                    _shown(line["actual"]),
                    line["pct_of_target"],
                ]
            )
    notes = book.create_sheet("Notes")
    notes.append([NOTE])
    for path_ in summary["suppressed"]:
        notes.append([path_])
    book.save(path)


FORMATS = ("table", "csv", "json", "xlsx")


def write(summary: dict[str, Any], fmt: str, out: Path | None) -> str | None:
    """Render ``summary``; returns the text to print, or None when written to ``out``."""
    if fmt == "xlsx":
        if out is None:
            raise ValueError("an .xlsx report needs --out FILE")
        to_xlsx(summary, out)
        return None
    text = {"table": table, "csv": to_csv, "json": to_json}[fmt](summary)
    if out is None:
        return text
    out.write_text(text, encoding="utf-8", newline="")
    return None
