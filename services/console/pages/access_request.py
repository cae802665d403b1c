"""A person's access request: intake's ``subject_access_export`` shown as readable sections,
and the same document as JSON to download. Every opening and every download is an export of
its own, written to intake's access log under the user (a manager reading it must know)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.accounts import SignedIn
from services.console.i18n import N_
from services.console.reads import ask
from services.console.web import NAV, Page, render

EXPORT = ("intake", "subject_access_export")

PAGE = NAV.add(
    Page("/people/{person_id}/access-request", N_("Access request"), requests=(EXPORT,), nav=False)
)

router = APIRouter()

Rows = Callable[[dict[str, Any]], list[dict[str, Any]]]
Columns = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    title: str
    """An ``N_("...")`` string, translated where shown."""
    columns: Columns
    rows: Rows


@dataclass(frozen=True)
class Section:
    service: str
    title: str
    tables: tuple[Table, ...]


def _at(*path: str) -> Rows:
    """The list at ``path`` in a service's part (a single record as a list of one)."""

    def rows(part: dict[str, Any]) -> list[dict[str, Any]]:
        value: Any = part
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    return rows


def _within(outer: Rows, inner: str, parent_key: str) -> Rows:
    """The rows of each outer row's ``inner`` list, each with its parent's ``parent_key``."""

    def rows(part: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {parent_key: parent.get(parent_key), **child}
            for parent in outer(part)
            for child in parent.get(inner) or []
        ]

    return rows


WHEN, BY, SITE, STATUS, DATE = N_("When"), N_("By"), N_("Site"), N_("Status"), N_("Date")
REASON, NOTE, MINUTES, ROLES = N_("Reason"), N_("Note"), N_("Minutes"), N_("Roles")
CASE, GOAL, PROGRAMME = N_("Case"), N_("Goal"), N_("Programme")
_CASES = _at("cases")

SECTIONS: tuple[Section, ...] = (
    Section(
        "intake",
        N_("Personal data and case record (intake)"),
        (
            Table(
                N_("Corrections of the personal data"),
                (("changed_at", WHEN), ("changed_by", BY), ("fields", N_("Fields changed"))),
                _at("corrections"),
            ),
            Table(
                N_("Records merged"),
                (
                    ("duplicate_id", N_("Duplicate record")),
                    ("into_id", N_("Kept record")),
                    ("reason", REASON),
                    ("merged_on", DATE),
                    ("merged_by", BY),
                ),
                _at("merges"),
            ),
            Table(
                N_("Carers and cared-for"),
                (
                    ("carer_id", N_("Carer")),
                    ("cared_for_id", N_("Cared for")),
                    ("relationship", N_("Relationship")),
                    ("linked_on", DATE),
                ),
                _at("carer_links"),
            ),
            Table(
                N_("Referrals"),
                (
                    ("received_on", N_("Received on")),
                    ("source", N_("Source")),
                    ("reason", REASON),
                    ("urgency", N_("Urgency")),
                    ("status", STATUS),
                    ("decision_reason", N_("Decision reason")),
                    ("decided_on", N_("Decided on")),
                ),
                _at("referrals"),
            ),
            Table(
                N_("Screenings"),
                (
                    ("screened_on", DATE),
                    ("screening", N_("Screening")),
                    ("answers", N_("Answers")),
                    ("total", N_("Total")),
                    ("band", N_("Band")),
                    ("flags", N_("Flags")),
                ),
                _within(_at("referrals"), "screenings", "referral_id"),
            ),
            Table(
                N_("Consents"),
                (
                    ("recorded_at", WHEN),
                    ("purpose", N_("Purpose")),
                    ("given", N_("Given")),
                    ("recorded_by", BY),
                    ("site", SITE),
                ),
                _at("consents"),
            ),
            Table(
                N_("Cases"),
                (
                    ("case_id", CASE),
                    ("site", SITE),
                    ("worker_id", N_("Worker")),
                    ("status", STATUS),
                    ("opened_on", N_("Opened on")),
                    ("closed_on", N_("Closed on")),
                    ("close_reason", REASON),
                ),
                _CASES,
            ),
            Table(
                N_("Case notes"),
                (("case_id", CASE), ("noted_on", DATE), ("written_by", BY), ("text", NOTE)),
                _within(_CASES, "notes", "case_id"),
            ),
            Table(
                N_("Goals"),
                (
                    ("case_id", CASE),
                    ("set_on", DATE),
                    ("text", GOAL),
                    ("status", STATUS),
                    ("end_note", NOTE),
                ),
                _within(_CASES, "goals", "case_id"),
            ),
            Table(
                N_("Goal reviews"),
                (
                    ("goal_id", GOAL),
                    ("reviewed_on", DATE),
                    ("progress", N_("Progress")),
                    ("note", NOTE),
                    ("reviewed_by", BY),
                ),
                _within(_within(_CASES, "goals", "case_id"), "reviews", "goal_id"),
            ),
            Table(
                N_("Contacts"),
                (
                    ("case_id", CASE),
                    ("contact_on", DATE),
                    ("mode", N_("Mode")),
                    ("minutes", MINUTES),
                    ("logged_by", BY),
                    ("void_reason", N_("Voided because")),
                ),
                _within(_CASES, "contacts", "case_id"),
            ),
            Table(
                N_("Transfers to other sites"),
                (
                    ("case_id", CASE),
                    ("transferred_on", DATE),
                    ("from_site", N_("From")),
                    ("to_site", N_("To")),
                    ("status", STATUS),
                ),
                _within(_CASES, "handoffs", "case_id"),
            ),
            Table(
                N_("Assessments"),
                (
                    ("assessed_on", DATE),
                    ("instrument", N_("Instrument")),
                    ("timepoint", N_("Timepoint")),
                    ("answers", N_("Answers")),
                    ("score", N_("Score")),
                    ("band", N_("Band")),
                    ("void_reason", N_("Voided because")),
                ),
                _at("assessments"),
            ),
            Table(
                N_("Who read this person's data"),
                (
                    ("accessed_at", WHEN),
                    ("actor", N_("Who")),
                    ("roles", ROLES),
                    ("what", N_("What was read")),
                    ("site", SITE),
                ),
                _at("access_log"),
            ),
        ),
    ),
    Section(
        "groups",
        N_("Groups and attendance (groups)"),
        (
            Table(
                N_("Enrolments"),
                (
                    ("title", PROGRAMME),
                    ("site", SITE),
                    ("status", STATUS),
                    ("enrolled_on", N_("Enrolled on")),
                    ("withdrawn_on", N_("Withdrawn on")),
                    ("withdraw_reason", REASON),
                ),
                _at("enrolments"),
            ),
            Table(
                N_("Attendance"),
                (
                    ("date", DATE),
                    ("title", PROGRAMME),
                    ("attendance", N_("Attendance")),
                    ("dropped_in", N_("Dropped in")),
                ),
                _at("attendance"),
            ),
        ),
    ),
    Section(
        "volunteers",
        N_("Volunteering and peer support (volunteers)"),
        (
            Table(
                N_("Volunteer record"),
                (
                    ("site", SITE),
                    ("registered_on", N_("Registered on")),
                    ("active", N_("Active")),
                    ("skills", N_("Skills")),
                    ("languages", N_("Languages")),
                ),
                _at("volunteer"),
            ),
            Table(
                N_("Teams"),
                (("team", N_("Team")), ("joined_on", N_("Joined on"))),
                _at("volunteer", "teams"),
            ),
            Table(
                N_("Training"),
                (
                    ("course", N_("Course")),
                    ("hours", N_("Hours")),
                    ("completed_on", N_("Completed on")),
                ),
                _at("volunteer", "trainings"),
            ),
            Table(
                N_("Availability"),
                (("weekday", N_("Weekday")), ("starts", N_("From")), ("ends", N_("To"))),
                _at("volunteer", "availability"),
            ),
            Table(
                N_("Duties"),
                (("date", DATE), ("site", SITE), ("role", N_("Role")), ("status", STATUS)),
                _at("volunteer", "assignments"),
            ),
            Table(
                N_("Hours given"),
                (
                    ("day", DATE),
                    ("minutes", MINUTES),
                    ("activity", N_("Activity")),
                    ("team", N_("Team")),
                    ("void_reason", N_("Voided because")),
                ),
                _at("volunteer", "hours"),
            ),
            Table(
                N_("Peer matches"),
                (
                    ("as_whom", N_("As")),
                    ("site", SITE),
                    ("status", STATUS),
                    ("started_on", N_("Started on")),
                    ("ended_on", N_("Ended on")),
                ),
                _at("peer_matches"),
            ),
            Table(
                N_("Peer contacts"),
                (
                    ("match_id", N_("Match")),
                    ("day", DATE),
                    ("minutes", MINUTES),
                    ("mode", N_("Mode")),
                ),
                _within(_at("peer_matches"), "contacts", "match_id"),
            ),
        ),
    ),
    Section(
        "reporting",
        N_("Reporting's statistical copy (ids and codes only)"),
        (
            Table(
                N_("Registrations"),
                (("site", SITE), ("roles", ROLES), ("registered_on", N_("Registered on"))),
                _at("people"),
            ),
            Table(
                N_("Cases"),
                (("case_id", CASE), ("site", SITE), ("opened_on", N_("Opened on"))),
                _at("cases"),
            ),
            Table(
                N_("Assessments"),
                (
                    ("assessed_on", DATE),
                    ("instrument", N_("Instrument")),
                    ("timepoint", N_("Timepoint")),
                    ("score", N_("Score")),
                ),
                _at("assessments"),
            ),
            Table(
                N_("Attendance"),
                (("session_on", DATE), ("programme_type", PROGRAMME), ("site", SITE)),
                _at("sessions_attended"),
            ),
            Table(
                N_("Hours given"),
                (("worked_on", DATE), ("minutes", MINUTES), ("team", N_("Team"))),
                _at("volunteer_hours"),
            ),
            Table(
                N_("Consents"),
                (("recorded_on", DATE), ("purpose", N_("Purpose")), ("given", N_("Given"))),
                _at("consents"),
            ),
        ),
    ),
)

PERSONAL = (
    ("preferred_name", N_("Preferred name")),
    ("legal_name", N_("Legal name")),
    ("sex", N_("Sex")),
    ("birth_year", N_("Year of birth")),
    ("phone", N_("Phone")),
    ("language", N_("Language spoken")),
    ("address", N_("Address")),
    ("roles", ROLES),
    ("site", SITE),
    ("registered_on", N_("Registered on")),
    ("registered_by", BY),
)


def shown(sections: tuple[Section, ...], export: dict[str, Any]) -> list[dict[str, Any]]:
    """Each section with its service's part (``None`` when the service did not answer) and
    the rows of each table."""
    parts = export.get("services", {})
    out = []
    for section in sections:
        part = parts.get(section.service) or {"status": "unavailable"}
        answered = part.get("status") == "complete"
        out.append(
            {
                "service": section.service,
                "title": section.title,
                "answered": answered,
                "tables": [
                    {"title": t.title, "columns": t.columns, "rows": t.rows(part)}
                    for t in section.tables
                ]
                if answered
                else [],
            }
        )
    return out


@router.get("/people/{person_id}/access-request")
async def access_request(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    export, asked = await ask(request, staff, EXPORT, {"person_id": str(person_id)})
    status = 404 if export is None and asked.error and asked.error.code == "not_found" else 200
    person = ((export or {}).get("services", {}).get("intake") or {}).get("person") or {}
    return render(
        request,
        "person/access_request.html",
        {
            "person_id": str(person_id),
            "export": export,
            "asked": asked,
            "person": person,
            "personal": PERSONAL,
            "sections": shown(SECTIONS, export) if export else [],
        },
        staff=staff,
        status=status,
    )


@router.get("/people/{person_id}/access-request.json")
async def access_request_json(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    """The export as the service gave it, to keep or hand to the person."""
    export, asked = await ask(request, staff, EXPORT, {"person_id": str(person_id)})
    if export is None:
        error = asked.error
        code = error.code if error else "internal"
        body = {"ok": False, "error": {"code": code, "message": error.message if error else ""}}
        status = {"not_found": 404, "forbidden": 403, "unavailable": 503}.get(code, 400)
        return Response(json.dumps(body), status_code=status, media_type="application/json")
    return Response(
        json.dumps(export, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="access-request-{person_id}.json"'},
    )
