"""``carenet import people.csv --site likang [--dry-run]``: bring an agency's existing clients
in through intake's own commands (``register_person``, ``record_consent``, ``link_carer``).

Each command's ``command_id`` is derived from the site, the row's ``external_id`` and the step
(uuid5), so running the same file again sends the same commands: intake answers each with its
first reply (the same ``person_id``) and changes nothing. A row that breaks a rule is refused,
with its row number (as a spreadsheet numbers it: the header is row 1), the column and why;
the other rows go in. ``--dry-run`` checks every row against the contracts' models and sends
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from pydantic import BaseModel, ValidationError

from shared.kit.contracts.intake import LinkCarer, RecordConsent, RegisterPerson
from shared.kit.contracts.replies import Reply

COLUMNS = (
    "external_id",
    "preferred_name",
    "legal_name",
    "roles",
    "sex",
    "birth_year",
    "phone",
    "language",
    "address",
    "registered_on",
    "consent_service",
    "consent_outcome_data",
    "consent_data_sharing",
    "carer_of",
    "relationship",
)
REQUIRED = ("external_id", "preferred_name", "roles")
CONSENTS = {
    "consent_service": "service",
    "consent_outcome_data": "outcome_data",
    "consent_data_sharing": "data_sharing",
}
# A request field that is not a column of the same name: the column to blame.
FIELD_COLUMNS = {
    "on": "registered_on",
    "person_id": "external_id",
    "cared_for_id": "carer_of",
    "possible_duplicate": "external_id",
}
ANSWERS = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False}
ANSWERS |= {"false": False, "0": False}
# Fixed forever: the command ids of every import ever run derive from it.
NAMESPACE = UUID("5b0f3d8e-6a51-4c43-9d0a-3c2a1f0e7b42")
# Stands in for ids only intake can give while a dry run checks a row's other fields.
PLACEHOLDER = UUID(int=0)
UNAVAILABLE_TRIES = 3

Progress = Callable[[int, int, float], None]
Send = Callable[[str, dict[str, Any]], Awaitable[Reply]]


def command_id(site: str, external_id: str, step: str) -> UUID:
    """The same id for the same site, row and step in every run."""
    return uuid5(NAMESPACE, f"carenet.import/{site}/{external_id}/{step}")


@dataclass(frozen=True)
class Refusal:
    row: int
    column: str
    reason: str


@dataclass
class Person:
    """One row, checked: what to send for it."""

    row: int
    external_id: str
    register: dict[str, Any]
    consents: list[tuple[str, str, bool]]
    carer_of: str | None = None
    relationship: str | None = None


@dataclass
class Outcome:
    rows: int = 0
    registered: int = 0
    consents: int = 0
    carer_links: int = 0
    refused: list[Refusal] = field(default_factory=list)
    dry_run: bool = False

    @property
    def refused_rows(self) -> int:
        return len({r.row for r in self.refused})


class FileError(Exception):
    """The file as a whole cannot be imported (unreadable, or its header is wrong)."""


def _blamed(errors: ValidationError) -> list[tuple[str, str]]:
    found = []
    for error in errors.errors():
        name = str(error["loc"][0]) if error["loc"] else "row"
        found.append((FIELD_COLUMNS.get(name, name), error["msg"]))
    return found


def _check(model: type[BaseModel], body: dict[str, Any], row: int) -> list[Refusal]:
    try:
        model.model_validate({"command_id": PLACEHOLDER, **body})
    except ValidationError as errors:
        return [Refusal(row, column, reason) for column, reason in _blamed(errors)]
    return []


def read_people(text: str) -> tuple[list[Person], list[Refusal], int]:
    """The rows fit to send, the refusals of the others, and how many rows there were."""
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        raise FileError(
            f"the header {'lacks ' + ', '.join(missing) if missing else ''}"
            f"{'; ' if unknown and missing else ''}"
            f"{'has unknown columns ' + ', '.join(unknown) if unknown else ''}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    reader.fieldnames = header
    people: list[Person] = []
    refused: list[Refusal] = []
    seen: dict[str, int] = {}
    count = 0
    for record in reader:
        count += 1
        row = reader.line_num
        values = {k: (v or "").strip() or None for k, v in record.items() if k in COLUMNS}
        person, problems = _person(row, values)
        external_id = values.get("external_id")
        if external_id is not None and external_id in seen:
            problems.append(Refusal(row, "external_id", f"also on row {seen[external_id]}"))
        if problems or person is None:
            refused.extend(problems)
            continue
        seen[person.external_id] = row
        people.append(person)
    # A carer's row goes in with the row of the person they care for, or not at all (which
    # may in turn hold back a row naming this one).
    while True:
        fit = {p.external_id for p in people}
        orphans = [p for p in people if p.carer_of is not None and p.carer_of not in fit]
        if not orphans:
            return people, refused, count
        for person in orphans:
            refused.append(
                Refusal(person.row, "carer_of", f"no row fit to import has {person.carer_of}")
            )
        people = [p for p in people if p not in orphans]


def _person(row: int, values: Mapping[str, str | None]) -> tuple[Person | None, list[Refusal]]:
    external_id = values.get("external_id")
    if external_id is None or len(external_id) > 64:
        return None, [Refusal(row, "external_id", "required, at most 64 characters")]
    problems: list[Refusal] = []
    register: dict[str, Any] = {
        name: values.get(name)
        for name in ("preferred_name", "legal_name", "sex", "phone", "language", "address")
        if values.get(name) is not None
    }
    register["roles"] = [r.strip() for r in (values.get("roles") or "").split(";") if r.strip()]
    if (year := values.get("birth_year")) is not None:
        register["birth_year"] = int(year) if year.isdigit() else year
    if (on := values.get("registered_on")) is not None:
        register["on"] = on
    problems += _check(RegisterPerson, register, row)
    consents = []
    for column, purpose in CONSENTS.items():
        answer = values.get(column)
        if answer is None:
            continue
        given = ANSWERS.get(answer.lower())
        if given is None:
            problems.append(Refusal(row, column, f"{answer!r} is not yes or no"))
            continue
        body = {"person_id": PLACEHOLDER, "purpose": purpose, "given": given}
        problems += _check(RecordConsent, body, row)
        consents.append((column, purpose, given))
    carer_of = values.get("carer_of")
    relationship = values.get("relationship")
    if carer_of is not None:
        if carer_of == external_id:
            problems.append(Refusal(row, "carer_of", "a person is not their own carer"))
        link = {"carer_id": PLACEHOLDER, "cared_for_id": PLACEHOLDER, "relationship": relationship}
        problems += _check(LinkCarer, link, row)
    elif relationship is not None:
        problems.append(Refusal(row, "relationship", "given without carer_of"))
    person = Person(row, external_id, register, consents, carer_of, relationship)
    return (None if problems else person), problems


class Stopped(Exception):
    """Intake could not be reached: nothing more is sent (running again is safe)."""


async def import_people(
    send: Send,
    people: list[Person],
    site: str,
    outcome: Outcome,
    progress: Progress | None = None,
) -> Outcome:
    """Send each row's commands (``send(name, body)`` answers a ``Reply``): people and their
    consents first, then the carer links, which need both people's ids."""
    started = time.monotonic()
    links = [p for p in people if p.carer_of is not None]
    total, done = len(people) + len(links), 0
    person_ids: dict[str, str] = {}

    async def ask(name: str, person: Person, step: str, body: dict[str, Any]) -> Reply:
        body = {"command_id": str(command_id(site, person.external_id, step)), **body}
        for _ in range(UNAVAILABLE_TRIES):
            reply = await send(name, body)
            if reply.error is None or reply.error.code != "unavailable":
                return reply
            said = reply.error.message
        raise Stopped(f"row {person.row}: {said}")

    def refuse(person: Person, reply: Reply, column: str | None = None) -> None:
        """Record why intake refused a row's command: against ``column``, else against the
        columns its details name."""
        assert reply.error is not None
        details = reply.error.details
        if reply.error.code == "conflict" and details and details[0].field == "possible_duplicate":
            candidates = ", ".join(d.message for d in details)
            reason = (
                f"may already be registered ({candidates}): check, then run again with "
                "--register-anyway"
            )
            outcome.refused.append(Refusal(person.row, "external_id", reason))
            return
        named = [FIELD_COLUMNS.get(d.field, d.field) for d in details] or ["external_id"]
        blamed = [column] if column else named
        for where in dict.fromkeys(blamed):
            outcome.refused.append(
                Refusal(person.row, where, f"{reply.error.code}: {reply.error.message}")
            )

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, time.monotonic() - started)

    for person in people:
        reply = await ask("register_person", person, "register", person.register)
        if reply.ok and reply.result is not None:
            person_ids[person.external_id] = str(reply.result["person_id"])
            outcome.registered += 1
            for column, purpose, given in person.consents:
                body = {"person_id": person_ids[person.external_id], "purpose": purpose}
                answer = await ask(
                    "record_consent", person, f"consent/{purpose}", body | {"given": given}
                )
                if answer.ok:
                    outcome.consents += 1
                else:
                    refuse(person, answer, column)
        else:
            refuse(person, reply)
        tick()
    for person in links:
        assert person.carer_of is not None
        carer, cared_for = person_ids.get(person.external_id), person_ids.get(person.carer_of)
        if carer is None or cared_for is None:
            if carer is not None:
                outcome.refused.append(
                    Refusal(person.row, "carer_of", f"{person.carer_of} was not registered")
                )
        else:
            body = {"carer_id": carer, "cared_for_id": cared_for}
            reply = await ask(
                "link_carer", person, "carer", body | {"relationship": person.relationship}
            )
            if reply.ok:
                outcome.carer_links += 1
            else:
                refuse(person, reply, "carer_of")
        tick()
    return outcome


def report(outcome: Outcome, path: str, site: str) -> str:
    lines = [
        f"carenet import: {path} for {site}: {outcome.rows} rows, "
        + (
            f"{outcome.rows - outcome.refused_rows} fit to import, {outcome.refused_rows} "
            "refused (dry run: nothing sent)"
            if outcome.dry_run
            else f"{outcome.registered} people, {outcome.consents} consents, "
            f"{outcome.carer_links} carer links; {outcome.refused_rows} rows refused"
        )
    ]
    for r in sorted(outcome.refused, key=lambda r: r.row):
        lines.append(f"  row {r.row:<5} {r.column:<22} {r.reason}")
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> int:
    from nats.errors import Error as NatsError

    from shared.cli.client import NO_TOKEN, connect, nats_url, token
    from shared.cli.progress import progress_bar
    from shared.kit.bus.requests import request

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
        people, refused, rows = read_people(text)
    except (OSError, UnicodeDecodeError, csv.Error, FileError) as exc:
        print(f"carenet import: {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.register_anyway:
        for person in people:
            person.register["register_anyway"] = True
    outcome = Outcome(rows=rows, refused=refused, dry_run=args.dry_run)
    if not args.dry_run:
        url, bearer = nats_url(args.data), token(args.data)
        if url is None or bearer is None:
            print(f"carenet import: {NO_TOKEN if url else 'no NATS URL'}", file=sys.stderr)
            return 2
        try:
            nc = await connect(url)
        except (OSError, NatsError, TimeoutError) as exc:
            print(f"carenet import: cannot reach NATS ({type(exc).__name__})", file=sys.stderr)
            return 2

        async def send(name: str, body: dict[str, Any]) -> Reply:
            return await request(nc, "cmd", args.site, "intake", name, body, token=bearer)

        def shown(done: int, total: int, seconds: float) -> None:
            progress_bar(done, total, seconds, unit="rows")

        try:
            await import_people(send, people, args.site, outcome, progress=shown)
        except Stopped as exc:
            print(
                f"\ncarenet import: stopped, intake unavailable at {exc}; run it again "
                "(rows already in are not doubled)",
                file=sys.stderr,
            )
            return 2
        finally:
            sys.stderr.write("\n")
            with contextlib.suppress(Exception):
                await nc.close()
    if args.json:
        shown_json = {**asdict(outcome), "refused_rows": outcome.refused_rows}
        print(json.dumps(shown_json, ensure_ascii=False))
    else:
        print(report(outcome, args.file, args.site))
    return 1 if outcome.refused else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="register existing clients from a CSV file through intake's commands",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help=f"CSV (UTF-8) with a header row: {', '.join(COLUMNS)}")
    parser.add_argument("--site", required=True, help="the site the people are registered at")
    parser.add_argument("--dry-run", action="store_true", help="check every row, send nothing")
    parser.add_argument(
        "--register-anyway",
        action="store_true",
        help="register rows refused as possible duplicates (after checking them)",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    parser.set_defaults(handler=lambda args: asyncio.run(_run(args)))
