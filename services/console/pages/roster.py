"""A session's roster (groups' ``roster``), where attendance is taken with one tap per person.

groups keeps one attendance record per session and a later ``record_attendance`` replaces the
earlier one entirely; so each tap reads the roster as it stands, changes the one mark, and
sends the whole record again (present, absent, dropped in, walk-ins). A tap on the mark a
person already has takes it off. With htmx the roster is swapped in place; without, the form
posts and the page comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any
from uuid import UUID
from weakref import WeakValueDictionary

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.pages.calendar_week import CALENDAR, sessions_between
from services.console.web import NAV, Page, console_of, render

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


_RECORDING: WeakValueDictionary[UUID, asyncio.Lock] = WeakValueDictionary()
"""One tap at a time per session in this console: two quick taps on different people must not
each read the roster before the other is recorded, or the second would undo the first."""


async def _retake(
    request: Request,
    staff: SignedIn,
    session_id: UUID,
    form: Form,
    change: Callable[[dict[str, Any], dict[str, Any]], None],
) -> Form:
    """Read the roster, ``change`` the record it shows (given the roster), send it whole; the
    form that carries any refusal."""
    lock = _RECORDING.get(session_id)
    if lock is None:
        lock = _RECORDING[session_id] = asyncio.Lock()
    async with lock:
        current, shown = await _roster(request, staff, session_id)
        if not shown.ok:
            return shown
        record = _record(current)
        change(current, record)
        # Each tap is a new record: a fresh command id, or groups would take it for the last.
        form.fresh_command()
        await form.send(
            console_of(request).gateway,
            staff,
            RECORD,
            {**record, "session_id": str(session_id), "command_id": form.value("command_id")},
        )
        return form


def _recorded(request: Request, form: Form) -> bool:
    """Whether the answer is a redirect (a plain form post that was recorded)."""
    return form.ok and not request.headers.get("HX-Request")


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

    def tap(current: dict[str, Any], record: dict[str, Any]) -> None:
        was = next((p for p in current.get("people", []) if p["person_id"] == person_id), None)
        for marked in ("present", "absent", "dropped_in"):
            record[marked] = [p for p in record[marked] if p != person_id]
        if was is not None and not was["dropped_in"] and was["attendance"] != wanted:
            if wanted in ("present", "absent"):
                record[wanted].append(person_id)

    done = await _retake(request, staff, session_id, form, tap)
    if _recorded(request, done):
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    return await _page(request, staff, session_id, marked=done)


@router.post("/sessions/{session_id}/walk-ins")
async def walk_ins(
    request: Request, session_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    """``change`` (+1 or -1) to the walk-ins counted."""
    form = await Form.read(request)
    step = 1 if form.value("change") == "1" else -1

    def count(_current: dict[str, Any], record: dict[str, Any]) -> None:
        record["walk_ins"] = max(0, int(record["walk_ins"] or 0) + step)

    done = await _retake(request, staff, session_id, form, count)
    if _recorded(request, done):
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    return await _page(request, staff, session_id, marked=done)


@router.post("/sessions/{session_id}/drop-in")
async def drop_in(
    request: Request, session_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    """A registered person found by name is marked present as having dropped in; a refusal
    (a programme that needs a case) is shown beside the search."""
    form = await Form.read(request)
    person_id = form.value("dropped_in")

    def add(_current: dict[str, Any], record: dict[str, Any]) -> None:
        if person_id not in record["dropped_in"]:
            record["dropped_in"].append(person_id)

    done = await _retake(request, staff, session_id, form, add)
    if _recorded(request, done):
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    if done is not form:
        return await _page(request, staff, session_id, marked=done)
    return await _page(request, staff, session_id, dropped=form, text=form.value("text"))
