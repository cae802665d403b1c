"""A session's roster (groups' ``roster``), where attendance is taken with one tap per person.

groups keeps one attendance record per session and a later ``record_attendance`` replaces the
earlier one entirely; so each tap reads the roster as it stands, changes the one mark, and
sends the whole record again (present, absent, dropped in, walk-ins). A tap on the mark a
person already has takes it off. With htmx the roster is swapped in place; without, the form
posts and the page comes back."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.pages.calendar_week import CALENDAR, sessions_between
from services.console.web import NAV, Page, console_of, render
from shared.kit.contracts.replies import Reply

ROSTER = ("groups", "roster")
RECORD = ("groups", "record_attendance")
FIND = ("intake", "find_people")
PAGE = NAV.add(
    Page("/sessions", N_("Session roster"), requests=(ROSTER, RECORD, FIND, CALENDAR), nav=False)
)

router = APIRouter()


async def _roster(
    request: Request, staff: SignedIn, session_id: UUID
) -> tuple[dict[str, Any], Form]:
    shown = Form.blank()
    reply = await shown.send(
        console_of(request).gateway, staff, ROSTER, {"session_id": str(session_id)}
    )
    return (reply.result or {}) if reply.ok else {}, shown


def _record(roster: dict[str, Any]) -> dict[str, Any]:
    """The attendance as the roster shows it, as ``record_attendance`` takes it."""
    people = roster.get("people", [])
    return {
        "present": [
            p["person_id"] for p in people if p["attendance"] == "present" and not p["dropped_in"]
        ],
        "absent": [p["person_id"] for p in people if p["attendance"] == "absent"],
        "dropped_in": [p["person_id"] for p in people if p["dropped_in"]],
        "walk_ins": roster.get("walk_ins", 0),
    }


def _without(record: dict[str, Any], person_id: str) -> dict[str, Any]:
    return {
        key: [p for p in value if p != person_id] if isinstance(value, list) else value
        for key, value in record.items()
    }


async def _page(
    request: Request,
    staff: SignedIn,
    session_id: UUID,
    *,
    marked: Form | None = None,
    dropped: Form | None = None,
    text: str = "",
) -> Response:
    roster, shown = await _roster(request, staff, session_id)
    title = ""
    if roster:
        on = date.fromisoformat(roster["date"])
        sessions, _shown = await sessions_between(request, staff, on, on)
        title = next((s["title"] for s in sessions if s["session_id"] == str(session_id)), "")
    found: list[dict[str, Any]] = []
    search = Form.blank(text=text)
    if text:
        reply = await search.send(console_of(request).gateway, staff, FIND, {"text": text})
        on_roster = {p["person_id"] for p in roster.get("people", [])}
        found = (
            [p for p in (reply.result or {}).get("people", []) if p["person_id"] not in on_roster]
            if reply.ok
            else []
        )
    context = {
        "session_id": str(session_id),
        "roster": roster,
        "title": title,
        "shown": shown,
        "marked": marked or Form.blank(),
        "search": search,
        "dropped": dropped or Form.blank(),
        "found": found,
        "searched": bool(text),
    }
    if request.headers.get("HX-Request"):
        return render(request, "roster/people.html", context, staff=staff)
    return render(request, "roster/roster.html", context, staff=staff)


async def _send(
    request: Request, staff: SignedIn, form: Form, record: dict[str, Any], session_id: UUID
) -> Reply:
    # Each tap is a new record: a fresh command id, or groups would take it for the last one.
    form.fresh_command()
    return await form.send(
        console_of(request).gateway,
        staff,
        RECORD,
        {**record, "session_id": str(session_id), "command_id": form.value("command_id")},
    )


def _answer(request: Request, session_id: UUID) -> Response:
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


@router.get("/sessions/{session_id}")
async def roster(
    request: Request,
    session_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    text: str = "",
) -> Response:
    return await _page(request, staff, session_id, text=text.strip())


@router.post("/sessions/{session_id}/mark")
async def mark(
    request: Request, session_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    """One tap: ``person_id`` is marked ``mark`` (present or absent), or unmarked when they
    already were; a person who dropped in is taken off."""
    form = await Form.read(request)
    person_id, wanted = form.value("person_id"), form.value("mark")
    current, shown = await _roster(request, staff, session_id)
    if not shown.ok:
        return await _page(request, staff, session_id, marked=shown)
    was = next((p for p in current.get("people", []) if p["person_id"] == person_id), None)
    record = _without(_record(current), person_id)
    if was is not None and not was["dropped_in"] and was["attendance"] != wanted:
        if wanted in ("present", "absent"):
            record[wanted].append(person_id)
    await _send(request, staff, form, record, session_id)
    if form.ok and not request.headers.get("HX-Request"):
        return _answer(request, session_id)
    return await _page(request, staff, session_id, marked=form)


@router.post("/sessions/{session_id}/walk-ins")
async def walk_ins(
    request: Request, session_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    """``change`` (+1 or -1) to the walk-ins counted."""
    form = await Form.read(request)
    current, shown = await _roster(request, staff, session_id)
    if not shown.ok:
        return await _page(request, staff, session_id, marked=shown)
    record = _record(current)
    step = 1 if form.value("change") == "1" else -1
    record["walk_ins"] = max(0, int(record["walk_ins"] or 0) + step)
    await _send(request, staff, form, record, session_id)
    if form.ok and not request.headers.get("HX-Request"):
        return _answer(request, session_id)
    return await _page(request, staff, session_id, marked=form)


@router.post("/sessions/{session_id}/drop-in")
async def drop_in(
    request: Request, session_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    """A registered person found by name is marked present as having dropped in; a refusal
    (a programme that needs a case) is shown beside the search."""
    form = await Form.read(request)
    current, shown = await _roster(request, staff, session_id)
    if not shown.ok:
        return await _page(request, staff, session_id, marked=shown)
    record = _record(current)
    record["dropped_in"].append(form.value("dropped_in"))
    await _send(request, staff, form, record, session_id)
    if form.ok and not request.headers.get("HX-Request"):
        return _answer(request, session_id)
    return await _page(request, staff, session_id, dropped=form, text=form.value("text"))
