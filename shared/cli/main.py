"""The ``carenet`` command: run the system, a service, generate the docs, or send a request."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import runpy
import sys
from datetime import timedelta
from pathlib import Path

from shared.cli.client import build_client_parsers
from shared.kit.contracts.public import SERVICES, load_public_contracts

REPO = Path(__file__).resolve().parents[2]


def _up(args: argparse.Namespace) -> int:
    from shared.agency.sites import DEMO_ORGANISATION
    from shared.local.roles import Deployment
    from shared.local.up import Launch, Up, available_services, run_up

    launches = available_services(REPO)
    for spec in args.service or []:
        name, _, target = spec.partition("=")
        module, _, argument = target.partition(":")
        launches.append(Launch(name, ["-m", module, *([argument] if argument else [])]))
    config = Path(os.environ.get("CARENET_CONFIG") or DEMO_ORGANISATION)
    if args.role == "site" and not args.site:
        print("carenet up: --role site needs --site CODE", file=sys.stderr)
        return 2
    if args.role != "site" and (args.site or args.hub):
        print("carenet up: --site and --hub go with --role site", file=sys.stderr)
        return 2
    up = Up(
        data_dir=Path(args.data).resolve(),
        root=REPO,
        launches=launches,
        sites=os.environ.get("CARENET_SITES", "*"),
        config=config,
        nats_url=os.environ.get("NATS_URL") or None,
        database_url=os.environ.get("DATABASE_URL") or None,
        deployment=Deployment(args.role, args.site),
        hub_url=args.hub,
    )
    return asyncio.run(run_up(up))


def _run(args: argparse.Namespace) -> int:
    runpy.run_module(f"services.{args.name}", run_name="__main__", alter_sys=True)
    return 0


def _docs(args: argparse.Namespace) -> int:
    from shared.kit.contracts import docs

    target = Path(args.out)
    if args.check:
        stale = [
            name
            for name, text in docs.generated().items()
            if not (target / name).exists() or (target / name).read_text() != text
        ]
        if stale:
            print(f"docs out of date: {', '.join(stale)}; run `carenet docs`", file=sys.stderr)
            return 1
        print("docs are up to date")
        return 0
    for path in docs.write(target):
        print(f"wrote {path}")
    return 0


TTL = re.compile(r"^(\d+)([smhd]?)$")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _ttl(text: str) -> int:
    """``8h``, ``30m``, ``7d`` or seconds."""
    found = TTL.match(text.strip())
    if found is None or int(found[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 8h, 30m, 7d or 3600")
    return int(found[1]) * SECONDS[found[2]]


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _token(args: argparse.Namespace) -> int:
    from shared.agency.sites import DEMO_ORGANISATION, load_organisation
    from shared.kit.identity import ROLES
    from shared.kit.identity.issuing import SigningKey
    from shared.local.identity import key_file

    unknown = [role for role in args.roles if role not in ROLES]
    if unknown or not args.roles:
        print(
            f"carenet token: unknown role(s) {', '.join(unknown) or '(none given)'}; "
            f"roles are {', '.join(ROLES)}",
            file=sys.stderr,
        )
        return 2
    organisation = load_organisation(Path(os.environ.get("CARENET_CONFIG") or DEMO_ORGANISATION))
    codes = set(organisation.codes())
    strange = [site for site in args.sites if site != "*" and site not in codes]
    if strange or not args.sites:
        print(
            f"carenet token: unknown site(s) {', '.join(strange) or '(none given)'}; "
            f"sites are * (every site) or one of {', '.join(sorted(codes))}",
            file=sys.stderr,
        )
        return 2
    data = Path(args.data or os.environ.get("CARENET_DATA") or ".carenet")
    path = Path(args.key or os.environ.get("CARENET_SIGNING_KEY") or key_file(data))
    try:
        key = SigningKey.load(path)
    except (OSError, ValueError) as exc:
        print(
            f"carenet token: no signing key at {path} ({type(exc).__name__}): run `make up` "
            "once (it makes one), or name one with --key or CARENET_SIGNING_KEY",
            file=sys.stderr,
        )
        return 2
    print(
        key.token(
            args.sub, roles=args.roles, sites=args.sites, name=args.name, ttl_seconds=args.ttl
        )
    )
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from shared.cli.client import database_url, operator_nats_url

    url = operator_nats_url(args.data)
    database = database_url(args.data)
    if url is None or database is None:
        print(
            "carenet reconcile: set NATS_URL and DATABASE_URL (or run `make up`, which writes "
            "up.json)",
            file=sys.stderr,
        )
        return 2
    services = args.service or list(SERVICES)
    return asyncio.run(
        _reconcile_all(url, database, services, timedelta(minutes=args.keep_minutes))
    )


async def _reconcile_all(url: str, database: str, services: list[str], keep: timedelta) -> int:
    from shared.kit.bus.address import connect_nats
    from shared.kit.bus.reconcile import reconcile

    failed = 0
    client = await connect_nats(url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        for service in services:
            try:
                result = await reconcile(client, database, service, keep=keep)
            except Exception as exc:  # noqa: BLE001 - report each service, go on with the next
                print(f"{service}: not reconciled: {exc!r}", file=sys.stderr)
                failed += 1
                continue
            print(result.summary())
    finally:
        await client.close()
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carenet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run everything locally with embedded NATS and PostgreSQL")
    up.add_argument("--data", default=os.environ.get("CARENET_DATA", ".carenet"))
    up.add_argument(
        "--service",
        action="append",
        metavar="NAME=MODULE[:ARG]",
        help="also run `python -m MODULE ARG` as service NAME (for examples and tests)",
    )
    up.add_argument(
        "--role",
        choices=["single", "hub", "site"],
        default="single",
        help="single: everything here (default); hub: head office (reporting for every site, "
        "the sites' sources); site: one site with its own NATS and PostgreSQL",
    )
    up.add_argument("--site", help="with --role site: the site's code (its JetStream domain)")
    up.add_argument(
        "--hub",
        metavar="LEAF_URL",
        help="with --role site: the hub's leaf-node URL for this site (leaf_urls in the hub's "
        "up.json); without it the site runs alone",
    )
    up.set_defaults(handler=_up)
    run = sub.add_parser("run", help="run one service in this process (settings from env)")
    run.add_argument("name", choices=SERVICES)
    run.set_defaults(handler=_run)
    docs = sub.add_parser(
        "docs", help="generate docs/asyncapi.json, docs/events/*.json and docs/access.md"
    )
    docs.add_argument("--out", default=str(REPO / "docs"))
    docs.add_argument("--check", action="store_true", help="fail if the files are out of date")
    docs.set_defaults(handler=_docs)
    token = sub.add_parser(
        "token",
        help="print a token signed with this deployment's key (for CARENET_TOKEN)",
        description="Print a JWT for a member of staff or a volunteer, signed with the key "
        "`carenet up` keeps under its data directory (or --key). Services take the actor from "
        "its sub and check its roles and sites against the access table.",
    )
    token.add_argument("--sub", required=True, help="the staff or volunteer id: the actor")
    token.add_argument(
        "--roles", required=True, type=_names, help="comma-separated, e.g. social_worker"
    )
    token.add_argument(
        "--sites", required=True, type=_names, help="comma-separated site codes, or * (all)"
    )
    token.add_argument("--ttl", type=_ttl, default=8 * 3600, help="how long it is valid (8h)")
    token.add_argument("--name", default=None, help="the person's name (default: the sub)")
    token.add_argument(
        "--key",
        default=None,
        help="the signing key (default: env CARENET_SIGNING_KEY, else "
        "the one `carenet up` made under --data)",
    )
    token.add_argument("--data", default=None, help="where `carenet up` keeps its data")
    token.set_defaults(handler=_token)
    reconcile = sub.add_parser(
        "reconcile",
        help="publish again the kept outbox events a service's stream lacks",
        description="Compare each service's outbox rows published within the keep period with "
        "its stream, re-publish the missing ones (deduplicated by event id), and print per "
        "service: kept rows, found in stream, re-published, parked.",
    )
    reconcile.add_argument(
        "--service", action="append", help="only this service (repeatable; default all four)"
    )
    reconcile.add_argument(
        "--keep-minutes",
        type=float,
        default=60.0,
        help="how far back published rows are compared (the relay keeps them 60 minutes)",
    )
    reconcile.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    reconcile.set_defaults(handler=_reconcile)
    from shared.cli.demo import add_parser as add_demo
    from shared.cli.importing import add_parser as add_import
    from shared.cli.links import add_parser as add_links
    from shared.cli.status import add_parser as add_status

    add_status(sub)
    add_links(sub)
    add_import(sub)
    add_demo(sub)
    # `carenet report ...` and `carenet rebuild-reporting` (also `carenet reporting rebuild`).
    from services.reporting.cli import add_parsers

    add_parsers(sub)
    # `carenet console add-user ...`: the staff console's accounts.
    from services.console.cli import add_parsers as add_console

    add_console(sub)
    # `carenet intake register_person --site likang ...`: one parser per catalogue request.
    build_client_parsers(sub, load_public_contracts())
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # `reporting rebuild` is local work, not a request to the service's generated parser.
    if argv[:2] == ["reporting", "rebuild"]:
        argv = ["rebuild-reporting", *argv[2:]]
    args = build_parser().parse_args(argv)
    raise SystemExit(args.handler(args))


if __name__ == "__main__":
    main()
