"""The ONE way a page handles a form: keep what was typed, send it, and put a refusal's
structured error beside the field it concerns (``templates/macros/forms.html`` shows it).

    form = await Form.read(request, lists=("roles",))
    reply = await form.send(console.gateway, staff, ("intake", "register_person"),
                            form.payload("preferred_name", "roles", ...))
    if form.ok: ...redirect...
    return render(request, "people/find.html", {"form": form})
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from fastapi import Request

from services.console.access import Request as ServiceRequest
from services.console.accounts import SignedIn
from services.console.gateway import Gateway
from services.console.i18n import N_, _
from services.console.web import CSRF_FIELD
from shared.kit.contracts.replies import ErrorBody, Reply

COMMAND_ID = "command_id"

PROBLEMS: dict[str, str] = {
    "validation_error": N_("Please check the fields marked below."),
    "not_found": N_("Something this refers to could not be found."),
    "conflict": N_("This clashes with what is already recorded."),
    "not_allowed": N_("The agency's rules do not allow this."),
    "consent_required": N_("This needs the person's consent first."),
    "capacity_full": N_("There is no room left."),
    "unavailable": N_(
        "The service is not answering just now. Nothing you typed is lost: try again in a moment."
    ),
    "internal": N_("Something went wrong in the service. Please tell the operator."),
    "unauthenticated": N_("Your sign-in has run out. Please sign in again."),
    "forbidden": N_("Your roles do not allow this for this site."),
}
"""What a refusal says at the top of the form, by its error code."""

FIELD_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Field required"), N_("This is required.")),
    (re.compile(r"^String should have at least 1 character"), N_("This is required.")),
    (re.compile(r"^List should have at least 1 item"), N_("Choose at least one.")),
    (
        re.compile(r"^String should have at most (?P<n>\d+) character"),
        N_("At most %(n)s characters."),
    ),
    (re.compile(r"^String should match pattern"), N_("This is not in the expected form.")),
    (re.compile(r"^Input should be a valid integer"), N_("Enter a whole number.")),
    (re.compile(r"^Input should be a valid number"), N_("Enter a number.")),
    (re.compile(r"^Input should be a valid date"), N_("Enter a date (YYYY-MM-DD).")),
    (re.compile(r"^Input should be a valid UUID"), N_("This is not a valid reference.")),
    (re.compile(r"^Input should be greater than or equal to (?P<n>\S+)"), N_("At least %(n)s.")),
    (re.compile(r"^Input should be less than or equal to (?P<n>\S+)"), N_("At most %(n)s.")),
    (re.compile(r"^Input should be "), N_("Choose one of the options.")),
    (re.compile(r"^Extra inputs are not permitted"), N_("This field is not expected here.")),
    # groups' refusals about programmes, sessions and attendance
    (
        re.compile(r"^(?P<venue>.+) is booked (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d) \(session"),
        N_("%(venue)s is already booked at %(when)s."),
    ),
    (
        re.compile(r"^(?P<person>.+) facilitates (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d) \(session"),
        N_("%(person)s is already facilitating another session at %(when)s."),
    ),
    (
        re.compile(r"^programme requires a case$"),
        N_("This programme needs an open case and an enrolment, so nobody can drop in."),
    ),
    (
        re.compile(r"^unknown person"),
        N_("This person is not known to groups yet: try again in a moment."),
    ),
    (re.compile(r"^no open case here$"), N_("This person has no open case at this site.")),
    (re.compile(r"^already enrolled$"), N_("This person is already enrolled or waiting.")),
    (re.compile(r"^walk-ins only$"), N_("This programme takes walk-ins only, no enrolment.")),
    (
        re.compile(r"^(?P<n>\d+) enrolled, (?P<w>\d+) waiting$"),
        N_("%(n)s enrolled and %(w)s waiting: withdraw them first to take walk-ins only."),
    ),
    (
        re.compile(r"^on (?P<day>\d{4}-\d\d-\d\d)$"),
        N_("Attendance is taken on or after the session's day (%(day)s)."),
    ),
    (re.compile(r"^cancelled$"), N_("The session was cancelled.")),
    (re.compile(r"^meets once$"), N_("This programme meets once: add a session instead.")),
    (re.compile(r"^at most (?P<n>\d+) more$"), N_("At most %(n)s more.")),
    (
        re.compile(r"^Value error, tag '(?P<tag>.*)' must be a snake_case code"),
        N_("Tag %(tag)s: use small letters, digits and _ only (e.g. carer_support)."),
    ),
    # Why volunteers refuses a volunteer named for a duty (the check that failed).
    (re.compile(r"^inactive$"), N_("This volunteer is marked inactive.")),
    (re.compile(r"^not_in_team$"), N_("This volunteer is in none of the teams asked for.")),
    (re.compile(r"^not_trained$"), N_("This volunteer has not completed the team's training.")),
    (re.compile(r"^missing_skills$"), N_("This volunteer lacks a skill the duty needs.")),
    (re.compile(r"^not_available$"), N_("This volunteer is not available at that time.")),
    (re.compile(r"^already_booked$"), N_("This volunteer is already on a duty at that time.")),
    # Why volunteers refuses a peer match.
    (re.compile(r"^not an active peer supporter$"), N_("Not an active, trained peer supporter.")),
    (re.compile(r"^self$"), N_("A peer supporter is never matched with themselves.")),
    (re.compile(r"^family link$"), N_("A peer supporter is never matched with their family.")),
]
"""The common pydantic refusals, recognised by their text; anything else is shown as sent."""


def field_message(message: str) -> str:
    """A service's message about one field, in the user's language where it is recognised."""
    for pattern, text in FIELD_MESSAGES:
        found = pattern.match(message)
        if found:
            return _(text, **found.groupdict())
    return message


@dataclass
class Form:
    """What was typed into a form, and what the service said of it."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    """Field name -> messages to show beside it (translated)."""
    problem: str | None = None
    """One line for the top of the form (translated), when something was refused."""
    error: ErrorBody | None = None
    """The refusal as the service sent it, for a page that reads its details itself."""
    others: list[str] = field(default_factory=list)
    """Messages about fields the form does not show."""

    @classmethod
    async def read(cls, request: Request, lists: Iterable[str] = ()) -> Form:
        """The submitted form; ``lists`` are fields with several values (checkboxes)."""
        submitted = await request.form()
        wanted = set(lists)
        values: dict[str, Any] = {}
        for name in submitted:
            if name == CSRF_FIELD:
                continue
            if name in wanted:
                values[name] = [str(v) for v in submitted.getlist(name)]
            else:
                value = submitted.get(name)
                values[name] = value.strip() if isinstance(value, str) else ""
        for name in wanted:
            values.setdefault(name, [])
        values.setdefault(COMMAND_ID, str(uuid4()))
        return cls(values)

    @classmethod
    def blank(cls, **values: Any) -> Form:
        """A new form, with ``values`` filled in and a fresh ``command_id``."""
        return cls({COMMAND_ID: str(uuid4()), **values})

    def value(self, name: str) -> Any:
        return self.values.get(name, "")

    def has(self, name: str, option: str) -> bool:
        """Whether ``option`` is ticked among ``name``'s checkboxes."""
        found = self.values.get(name)
        return option in found if isinstance(found, list) else found == option

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def unavailable(self) -> bool:
        return self.error is not None and self.error.code == "unavailable"

    def payload(self, *names: str, **fixed: Any) -> dict[str, Any]:
        """The request body from fields ``names`` (blank ones left out) and ``fixed`` values;
        a command's ``command_id`` is the form's, so sending it again is safe."""
        body: dict[str, Any] = {}
        for name in names:
            value = self.values.get(name)
            if value not in (None, "", []):
                body[name] = value
        if COMMAND_ID in self.values:
            body.setdefault(COMMAND_ID, self.values[COMMAND_ID])
        return body | fixed

    async def send(
        self,
        gateway: Gateway,
        staff: SignedIn,
        what: ServiceRequest,
        payload: Mapping[str, Any],
        *,
        site: str | None = None,
    ) -> Reply:
        """Send ``payload`` as ``staff`` and take in the reply's error, if any."""
        reply = await gateway.send(staff.token, site or staff.site, what, payload)
        self.take(reply)
        return reply

    def take(self, reply: Reply) -> None:
        """Put a refusal beside the fields it names; nothing typed is dropped."""
        self.error = reply.error
        self.errors = {}
        self.others = []
        self.problem = None
        if reply.error is None:
            return
        self.problem = _(PROBLEMS.get(reply.error.code, PROBLEMS["internal"]))
        for detail in reply.error.details:
            name = detail.field.split(".", 1)[0]
            message = field_message(detail.message)
            if name in self.values:
                self.errors.setdefault(name, []).append(message)
            else:
                self.others.append(message)
        if not reply.error.details and reply.error.code not in ("unavailable", "internal"):
            self.others.append(reply.error.message)

    def refuse(self, name: str, message: str) -> None:
        """Refuse the form before sending it, with ``message`` (an ``N_`` string) beside
        ``name``: for what only the console asks (a confirmation box ticked)."""
        self.error = ErrorBody(code="validation_error", message=message)
        self.problem = _(PROBLEMS["validation_error"])
        self.errors = {name: [_(message)]}
        self.others = []

    def detail(self, name: str) -> list[str]:
        """The raw messages of the reply's details about ``name`` (e.g. ids it names)."""
        if self.error is None:
            return []
        return [d.message for d in self.error.details if d.field == name]

    def fresh_command(self) -> None:
        """A new ``command_id``: for sending a different command from the same form."""
        self.values[COMMAND_ID] = str(uuid4())
