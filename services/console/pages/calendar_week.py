"""The week's programme calendar (groups' ``calendar``), and planning: create a programme with
its schedule, add a session, move or cancel one. A clash (a venue or facilitator booked twice)
is explained beside the field, naming the session it clashes with."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console import i18n
from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_, _
from services.console.labels import PROGRAMME_TYPES
from services.console.web import NAV, Page, console_of, render
from shared.kit.contracts.replies import ErrorDetail, Reply

CALENDAR = ("groups", "calendar")
PROGRAMMES = ("groups", "programmes")
CREATE = ("groups", "create_programme")
SCHEDULE = ("groups", "schedule_session")
RESCHEDULE = ("groups", "reschedule_session")
CANCEL = ("groups", "cancel_session")
PAGE = NAV.add(Page("/calendar", N_("Programme calendar"), requests=(CALENDAR,), order=30))
PLANNING = NAV.add(
    Page(
        "/calendar/planning",
        N_("Plan programmes and sessions"),
        requests=(CALENDAR, PROGRAMMES, CREATE, SCHEDULE, RESCHEDULE, CANCEL),
        nav=False,
    )
)

REPEATS: dict[str, str] = {
    "once": N_("Once"),
    "daily": N_("Every day"),
    "weekdays": N_("Every weekday (Monday to Friday)"),
    "weekly": N_("Every week"),
    "fortnightly": N_("Every two weeks"),
    "monthly_by_weekday": N_("Monthly, on the same weekday of the month (e.g. second Tuesday)"),
}
TARGET_ROLES: dict[str, str] = {
    "person_in_recovery": N_("Person in recovery"),
    "family_carer": N_("Family carer"),
    "rehabilitee": N_("Rehabilitee"),
    "si_affected": N_("Affected by a suicide or self-harm"),
    "community_member": N_("Community member"),
    "volunteer": N_("Volunteer"),
}
SCHEDULE_FIELDS = ("first_date", "start_time", "duration_min", "repeat", "count")
VENUE_CLASH = re.compile(
    r"^(?P<venue>.+) is booked (?P<when>\S+ \S+) \(session (?P<session>\S+)\)$"
)
FACILITATOR_CLASH = re.compile(
    r"^(?P<person>.+) facilitates (?P<when>\S+ \S+) \(session (?P<session>\S+)\)$"
)

router = APIRouter()


def today(request: Request) -> date:
    return datetime.now(console_of(request).settings.organisation.zone).date()


def monday_of(request: Request, week: str) -> date:
    """The Monday of the week holding ``week`` (a date), else of this week."""
    try:
        chosen = date.fromisoformat(week)
    except ValueError:
        chosen = today(request)
    return chosen - timedelta(days=chosen.weekday())


def names(text: str) -> list[str]:
    """A comma-separated list, as typed (either comma, as on a Chinese keyboard)."""
    return [part.strip() for part in re.split(r"[,，、]", text) if part.strip()]


async def sessions_between(
    request: Request, staff: SignedIn, first: date, last: date
) -> tuple[list[dict[str, Any]], Form]:
    shown = Form.blank()
    reply = await shown.send(
        console_of(request).gateway,
        staff,
        CALENDAR,
        {"from": first.isoformat(), "to": last.isoformat()},
    )
    return (reply.result or {}).get("sessions", []) if reply.ok else [], shown


async def explain_clashes(request: Request, staff: SignedIn, form: Form) -> None:
    """Say in plain words which session a refused slot clashes with: its programme, its day
    and time, and whether the venue or a facilitator is taken."""
    if form.error is None or form.error.code != "conflict":
        return
    explained: dict[str, list[str]] = {}
    for detail in form.error.details:
        found = VENUE_CLASH.match(detail.message) or FACILITATOR_CLASH.match(detail.message)
        if found is None:
            continue
        when = datetime.strptime(found["when"], "%Y-%m-%d %H:%M")
        sessions, _shown = await sessions_between(request, staff, when.date(), when.date())
        title = next(
            (s["title"] for s in sessions if s["session_id"] == found["session"]),
            _("another session"),
        )
        language_day = _day(request, when.date())
        values = {"day": language_day, "time": f"{when:%H:%M}", "title": title}
        if detail.field == "venue":
            message = _(
                "%(venue)s is already booked on %(day)s at %(time)s for %(title)s. "
                "Choose another venue or time.",
                venue=found["venue"],
                **values,
            )
        else:
            message = _(
                "%(person)s is already facilitating %(title)s on %(day)s at %(time)s. "
                "Choose another facilitator or time.",
                person=found["person"],
                **values,
            )
        explained.setdefault(detail.field, []).append(message)
    if explained:
        form.problem = _("This clashes with another session: see the fields marked below.")
        form.errors.update(explained)
        form.others = []


def _day(request: Request, value: date) -> str:
    return i18n.format_day(value, console_of(request).settings.organisation.zone, "full")


def _schedule_fields_flat(reply: Reply) -> Reply:
    """A refusal about ``schedule.first_date`` names the form's ``first_date`` field (the
    schedule's own rules name ``repeat``)."""
    if reply.error is None:
        return reply
    details = [
        ErrorDetail(
            field=(
                d.field.removeprefix("schedule.")
                if d.field.startswith("schedule.")
                else ("repeat" if d.field == "schedule" else d.field)
            ),
            message=d.message,
        )
        for d in reply.error.details
    ]
    return reply.model_copy(update={"error": reply.error.model_copy(update={"details": details})})


@router.get("/calendar")
async def week_calendar(
    request: Request,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    week: str = "",
    done: str = "",
) -> Response:
    monday = monday_of(request, week)
    sunday = monday + timedelta(days=6)
    sessions, shown = await sessions_between(request, staff, monday, sunday)
    days = [
        (
            monday + timedelta(days=i),
            [s for s in sessions if s["date"] == str(monday + timedelta(days=i))],
        )
        for i in range(7)
    ]
    return render(
        request,
        "calendar/week.html",
        {
            "monday": monday,
            "sunday": sunday,
            "days": days,
            "shown": shown,
            "today": today(request).isoformat(),
            "previous": (monday - timedelta(days=7)).isoformat(),
            "next": (monday + timedelta(days=7)).isoformat(),
            "may_plan": PLANNING.allows(staff),
            # The roster's page is declared by its own module, which builds on this one.
            "may_take_attendance": any(
                page.path == "/sessions" and page.allows(staff) for page in NAV.pages
            ),
            "done": done,
        },
        staff=staff,
    )


def _programme_page(request: Request, staff: SignedIn, form: Form, week: str) -> Response:
    return render(
        request,
        "calendar/new_programme.html",
        {
            "form": form,
            "week": week,
            "types": PROGRAMME_TYPES,
            "repeats": REPEATS,
            "target_roles": TARGET_ROLES,
        },
        staff=staff,
    )


@router.get("/calendar/programmes/new")
async def new_programme(
    request: Request, staff: Annotated[SignedIn, Depends(PLANNING.guard)], week: str = ""
) -> Response:
    form = Form.blank(repeat="weekly", count="1", duration_min="90", target_roles=[])
    return _programme_page(request, staff, form, week)


@router.post("/calendar/programmes/new")
async def create_programme(
    request: Request, staff: Annotated[SignedIn, Depends(PLANNING.guard)]
) -> Response:
    form = await Form.read(request, lists=("target_roles",))
    schedule = {name: form.value(name) for name in SCHEDULE_FIELDS if form.value(name) != ""}
    if schedule.get("repeat") == "once":
        schedule.pop("count", None)
    payload = form.payload(
        "title",
        "type",
        "capacity",
        "target_roles",
        "venue",
        requires_case=form.value("requires_case") == "true",
        tags=names(form.value("tags")),
        facilitators=names(form.value("facilitators")),
        schedule=schedule,
    )
    console = console_of(request)
    reply = _schedule_fields_flat(
        await console.gateway.send(staff.token, staff.site, CREATE, payload)
    )
    form.take(reply)
    if form.ok:
        return RedirectResponse(
            f"/calendar?week={form.value('first_date')}&done=programme", status_code=303
        )
    await explain_clashes(request, staff, form)
    return _programme_page(request, staff, form, form.value("week"))


async def _session_form_page(request: Request, staff: SignedIn, form: Form) -> Response:
    listed = Form.blank()
    reply = await listed.send(console_of(request).gateway, staff, PROGRAMMES, {})
    programmes = (
        {p["programme_id"]: p["title"] for p in (reply.result or {}).get("programmes", [])}
        if reply.ok
        else {}
    )
    return render(
        request,
        "calendar/new_session.html",
        {"form": form, "programmes": programmes, "listed": listed},
        staff=staff,
    )


@router.get("/calendar/sessions/new")
async def new_session(
    request: Request,
    staff: Annotated[SignedIn, Depends(PLANNING.guard)],
    programme_id: str = "",
    week: str = "",
) -> Response:
    return await _session_form_page(
        request, staff, Form.blank(programme_id=programme_id, week=week)
    )


@router.post("/calendar/sessions/new")
async def schedule_session(
    request: Request, staff: Annotated[SignedIn, Depends(PLANNING.guard)]
) -> Response:
    form = await Form.read(request)
    facilitators = names(form.value("facilitators"))
    payload = form.payload(
        "programme_id",
        "date",
        "start_time",
        "duration_min",
        "venue",
        **({"facilitators": facilitators} if facilitators else {}),
    )
    await form.send(console_of(request).gateway, staff, SCHEDULE, payload)
    if form.ok:
        return RedirectResponse(
            f"/calendar?week={form.value('date')}&done=session", status_code=303
        )
    await explain_clashes(request, staff, form)
    return await _session_form_page(request, staff, form)


async def _change_page(
    request: Request,
    staff: SignedIn,
    session_id: UUID,
    week: str,
    moved: Form | None = None,
    cancelled: Form | None = None,
) -> Response:
    monday = monday_of(request, week)
    sessions, shown = await sessions_between(request, staff, monday, monday + timedelta(days=6))
    session = next((s for s in sessions if s["session_id"] == str(session_id)), None)
    if moved is None:
        moved = Form.blank(
            **(
                {k: session[k] for k in ("date", "start_time", "duration_min", "venue")}
                if session
                else {}
            )
        )
    return render(
        request,
        "calendar/change_session.html",
        {
            "session": session,
            "shown": shown,
            "week": monday.isoformat(),
            "moved": moved,
            "cancelled": cancelled or Form.blank(),
            "session_id": str(session_id),
        },
        staff=staff,
        status=200 if session is not None or not shown.ok else 404,
    )


@router.get("/calendar/sessions/{session_id}")
async def change_session(
    request: Request,
    session_id: UUID,
    staff: Annotated[SignedIn, Depends(PLANNING.guard)],
    week: str = "",
) -> Response:
    return await _change_page(request, staff, session_id, week)


@router.post("/calendar/sessions/{session_id}/move")
async def reschedule_session(
    request: Request, session_id: UUID, staff: Annotated[SignedIn, Depends(PLANNING.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload(
        "date", "start_time", "duration_min", "venue", session_id=str(session_id)
    )
    await form.send(console_of(request).gateway, staff, RESCHEDULE, payload)
    if form.ok:
        return RedirectResponse(f"/calendar?week={form.value('date')}&done=moved", status_code=303)
    await explain_clashes(request, staff, form)
    return await _change_page(request, staff, session_id, form.value("week"), moved=form)


@router.post("/calendar/sessions/{session_id}/cancel")
async def cancel_session(
    request: Request, session_id: UUID, staff: Annotated[SignedIn, Depends(PLANNING.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("reason", session_id=str(session_id))
    await form.send(console_of(request).gateway, staff, CANCEL, payload)
    if form.ok:
        return RedirectResponse(
            f"/calendar?week={form.value('week')}&done=cancelled", status_code=303
        )
    return await _change_page(request, staff, session_id, form.value("week"), cancelled=form)
