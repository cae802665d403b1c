"""``carenet <service> <command|query> --site S --field ...``: any request of the catalogue.

The options are generated from each request model's fields (``--preferred-name`` for
``preferred_name``). Values are only shaped for JSON here (lists, numbers, booleans, JSON
objects); the service validates them and its ``validation_error`` reply is what the user sees.

The request carries the caller's token (``CARENET_TOKEN``, else the operator token ``carenet up``
writes into ``up.json``); the service takes the ``actor`` from it, so there is no ``--actor``.

The reply is always printed (exit 0 ok, 1 refused, 2 unavailable or not sent). A command that
is not ok also prints its ``command_id`` on stderr with ``send again with --command-id X``:
the same command sent again with that id is applied at most once, so a retry after a lost or
late answer never creates the work twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID, uuid4

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.contracts.catalogue import CATALOGUE, RequestSpec

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

# Options every request has; a model field of the same name could not be given. A model's own
# ``site`` field (reporting's "which site's figures", which may be ``*``) is filled from --site.
RESERVED = frozenset({"site", "data", "help"})
# Fields the CLI never offers: the actor is whoever the token names.
NOT_OPTIONS = frozenset({"site", "actor"})
NO_TOKEN = (
    "no token: set CARENET_TOKEN (e.g. export CARENET_TOKEN=$(carenet token --sub ID "
    "--roles ROLE --sites SITE)), or run `make up`, which writes an operator token into "
    ".carenet/up.json"
)
ALL_SITES = "*"
Convert = Callable[[str], Any]


def build_client_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], services: Iterable[str]
) -> list[str]:
    """Add ``<service> <name>`` parsers for the services' commands and queries; returns the
    services added (those with at least one command or query)."""
    added = []
    for service in services:
        specs = _specs(service)
        if not specs:
            continue
        if service in subparsers.choices:
            raise ValueError(f"service {service!r} clashes with the `carenet {service}` command")
        parser = subparsers.add_parser(
            service,
            help=f"send a command or query to the {service} service",
            description=f"Commands and queries of the {service} service.",
        )
        names = parser.add_subparsers(dest="request", required=True, metavar="NAME")
        for spec in specs:
            _add_request(names, spec)
        added.append(service)
    return added


def handle(args: argparse.Namespace) -> int:
    """The ``handler`` of every request parser: send it and print the reply."""
    return asyncio.run(send(args))


async def run_client(argv: Sequence[str], services: Iterable[str]) -> int:
    """Parse ``argv`` (``[service, name, --option, ...]``) and send the request; the exit code."""
    parser = argparse.ArgumentParser(prog="carenet")
    build_client_parsers(parser.add_subparsers(dest="command", required=True), services)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # usage errors and --help
        return exc.code if isinstance(exc.code, int) else 2
    return await send(args)


async def send(args: argparse.Namespace) -> int:
    """Send the request parsed into ``args`` and print the reply.

    Exit code 0: ok; 1: the service refused it; 2: not sent, or ``unavailable`` (nobody
    answered, no answer in time, the service's database away). For a command that is not ok,
    one line on stderr names its ``command_id`` and how to send the same command again
    (``--command-id``): a repeat is applied at most once, so retrying never doubles the work.
    """
    from nats.errors import Error as NatsError

    from shared.kit.bus.address import NatsAddress, NatsAddressError
    from shared.kit.bus.requests import request

    spec: RequestSpec = args.client_spec
    url = nats_url(args.data)
    if url is None:
        return _fail("no NATS URL: run `make up` (it writes .carenet/up.json) or set NATS_URL")
    try:
        where = NatsAddress.parse(url).shown()
    except NatsAddressError as exc:
        return _fail(f"NATS_URL: {exc}")
    bearer = token(args.data)
    if bearer is None:
        return _fail(NO_TOKEN)
    try:
        nc = await connect(url)
    except (OSError, NatsError, TimeoutError) as exc:
        return _fail(f"cannot reach NATS at {where} ({type(exc).__name__})")
    body = payload(args)
    try:
        reply = await request(
            nc, spec.kind, subject_site(args.site), spec.service, spec.name, body, token=bearer
        )
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    shown = reply.model_dump(mode="json", exclude_none=True)
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    if reply.ok:
        return 0
    if spec.kind == "cmd":
        command_id = body["command_id"]
        print(
            f"carenet: command_id {command_id}; send again with --command-id {command_id} "
            "(a repeat is applied at most once)",
            file=sys.stderr,
        )
    return 2 if reply.error is not None and reply.error.code == "unavailable" else 1


async def connect(url: str) -> NatsClient:
    """A connection for one CLI run: no reconnecting (a refusal is reported, not waited out)."""
    from shared.kit.bus.address import connect_nats

    return await asyncio.wait_for(
        connect_nats(
            url,
            connect_timeout=3,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.2,
            error_cb=_ignore,
        ),
        timeout=10,
    )


def payload(args: argparse.Namespace) -> dict[str, Any]:
    """The request body from parsed options: given fields and the command id."""
    spec: RequestSpec = args.client_spec
    body: dict[str, Any] = {}
    for name in spec.model.model_fields:
        value = getattr(args, _dest(name), None)
        if value is not None:
            body[name] = value
    if "site" in spec.model.model_fields:
        body["site"] = args.site
    if spec.kind == "cmd":
        body.setdefault("command_id", str(uuid4()))
    return body


def _from_up_json(variable: str, key: str, data: str | None) -> str | None:
    """``$variable``, else ``key`` of ``up.json`` in the data directory ``carenet up`` uses."""
    if url := os.environ.get(variable):
        return url
    folder = Path(data or os.environ.get("CARENET_DATA") or ".carenet")
    try:
        found = json.loads((folder / "up.json").read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) and found else None


def nats_url(data: str | None = None) -> str | None:
    """``NATS_URL``, else the ``nats`` of ``up.json`` in the data directory ``carenet up`` uses."""
    return _from_up_json("NATS_URL", "nats", data)


def operator_nats_url(data: str | None = None) -> str | None:
    """For operators' commands (reconcile, rebuild): ``NATS_URL``, else ``admin_nats`` of
    ``up.json`` (the client user in ``nats`` may not re-publish events or replay streams)."""
    return _from_up_json("NATS_URL", "admin_nats", data) or nats_url(data)


def console_url(data: str | None = None) -> str | None:
    """``CARENET_CONSOLE_URL``, else the ``console`` address of ``up.json``."""
    return _from_up_json("CARENET_CONSOLE_URL", "console", data)


def database_url(data: str | None = None) -> str | None:
    """``DATABASE_URL``, else the ``database`` of ``up.json`` (for operators' tools)."""
    return _from_up_json("DATABASE_URL", "database", data)


def token(data: str | None = None) -> str | None:
    """``CARENET_TOKEN``, else the operator ``token`` that ``carenet up`` wrote into ``up.json``."""
    return _from_up_json("CARENET_TOKEN", "token", data)


def subject_site(site: str) -> str:
    """The site a request travels under: ``*`` (every site) goes to the organisation's top site."""
    if site != ALL_SITES:
        return site
    config = os.environ.get("CARENET_CONFIG") or str(DEMO_ORGANISATION)
    try:
        organisation = load_organisation(Path(config))
    except ValueError:
        return "hq"
    return next((s.code for s in organisation.sites if s.parent is None), "hq")


def _specs(service: str) -> list[RequestSpec]:
    found = [s for (svc, _), s in CATALOGUE.commands.items() if svc == service]
    found += [s for (svc, _), s in CATALOGUE.queries.items() if svc == service]
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise ValueError(f"{service}: a command and a query share a name")
    return sorted(found, key=lambda s: s.name)


def _add_request(
    names: argparse._SubParsersAction[argparse.ArgumentParser], spec: RequestSpec
) -> None:
    what = "command" if spec.kind == "cmd" else "query"
    summary = (spec.model.__doc__ or "").strip().split("\n", 1)[0]
    parser = names.add_parser(
        spec.name,
        help=_escape(f"{what}: {summary}" if summary else what),
        description=_escape(f"The {spec.service} {what} {spec.name}. {summary}".strip()),
    )
    site = os.environ.get("CARENET_SITE") or None
    parser.add_argument(
        "--site",
        default=site,
        required=site is None,
        help="the site the request is for (default: env CARENET_SITE)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="where `carenet up` keeps up.json, read when NATS_URL or CARENET_TOKEN is not "
        "set (default: env CARENET_DATA, else .carenet)",
    )
    for name, field in spec.model.model_fields.items():
        if name in NOT_OPTIONS:
            continue
        if name in RESERVED:
            raise ValueError(f"{spec.service}.{spec.name}: field {name!r} clashes with --{name}")
        _add_field(parser, name, field)
    parser.set_defaults(handler=handle, client_spec=spec)


def _add_field(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    flag = "--" + name.replace("_", "-")
    kind, item = _shape(field.annotation)
    hint = _label(field.annotation)
    required = field.is_required()
    if name == "command_id":
        required = False
        hint = "UUID; default a new one (give it again to repeat a command safely)"
    help_text = " ".join(p for p in (field.description, f"[{hint}]" if hint else "") if p)
    if not required and field.default not in (None, PydanticUndefined):
        default = field.default.value if isinstance(field.default, Enum) else field.default
        help_text += f" (default: {default})"
    options: dict[str, Any] = {
        "dest": _dest(name),
        "required": required,
        "help": _escape(help_text),
        "metavar": _metavar(field.annotation, kind),
    }
    if kind == "list":
        parser.add_argument(flag, action="extend", type=_split(_scalar(item)), **options)
    elif kind == "bool":
        parser.add_argument(flag, nargs="?", const=True, type=_boolean, **options)
    elif kind == "json":
        parser.add_argument(flag, type=_json, **options)
    else:
        parser.add_argument(flag, type=_scalar(kind), **options)


def _dest(name: str) -> str:
    return f"field:{name}"


def _unwrap(annotation: Any) -> Any:
    """Drop ``Annotated`` and ``None`` from a union; a union of several types stays as is."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return _unwrap(rest[0])
    return annotation


def _shape(annotation: Any) -> tuple[str, str]:
    """``(kind, item kind)``: kind is text, int, float, bool, list or json."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin in (list, set, frozenset, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        item, _ = _shape(args[0]) if args else ("text", "")
        return ("json", "") if item in ("json", "list") else ("list", item)
    if _is_json(annotation):
        return "json", ""
    if annotation is bool:
        return "bool", ""
    if annotation is int:
        return "int", ""
    if annotation is float:
        return "float", ""
    return "text", ""


def _is_json(annotation: Any) -> bool:
    if get_origin(annotation) in (dict, Mapping) or annotation is dict:
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _label(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of: " + ", ".join(str(m.value) for m in annotation)
    kind, _ = _shape(annotation)
    if kind == "list":
        item = _label(get_args(annotation)[0])
        return f"comma-separated or repeated; each {item}" if item else "comma-separated"
    if kind == "json":
        return "JSON array" if origin in (list, set, frozenset, tuple) else "JSON object"
    if kind == "bool":
        return "true/false/yes/no/1/0; alone means true"
    names = {UUID: "UUID", date: "date YYYY-MM-DD", datetime: "ISO date-time", time: "HH:MM"}
    if isinstance(annotation, type) and annotation is not str:
        return names.get(annotation, annotation.__name__)
    return ""


def _metavar(annotation: Any, kind: str) -> str:
    annotation = _unwrap(annotation)
    if kind == "list":
        return "A,B"
    if kind == "json":
        return "JSON"
    if kind == "bool":
        return "BOOL"
    if annotation is UUID:
        return "UUID"
    if annotation is date:
        return "DATE"
    return "N" if kind in ("int", "float") else "TEXT"


def _scalar(kind: str) -> Convert:
    """Numbers become numbers when they parse; anything else goes as text for the service."""

    def convert(text: str) -> Any:
        try:
            return int(text) if kind == "int" else float(text) if kind == "float" else text
        except ValueError:
            return text

    return convert


def _split(item: Convert) -> Convert:
    def convert(text: str) -> list[Any]:
        return [item(part.strip()) for part in text.split(",") if part.strip()]

    return convert


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _boolean(text: str) -> Any:
    return _BOOLEANS.get(text.strip().lower(), text)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from exc


def _escape(text: str) -> str:
    return text.replace("%", "%%")


def _fail(message: str) -> int:
    print(f"carenet: {message}", file=sys.stderr)
    return 2


async def _ignore(_error: Exception) -> None:
    """nats-py logs connection errors itself; the CLI reports them in one line instead."""
