"""The ``carenet`` command: run the system, a service, generate the docs, or send a request."""

from __future__ import annotations

import argparse
import asyncio
import os
import runpy
import sys
from datetime import timedelta
from pathlib import Path

from shared.cli.client import build_client_parsers
from shared.kit.contracts.public import SERVICES, load_public_contracts

REPO = Path(__file__).resolve().parents[2]


def _up(args: argparse.Namespace) -> int:
    from shared.agency.sites import DEMO_ORGANISATION
    from shared.local.up import Launch, Up, available_services, run_up

    launches = available_services(REPO)
    for spec in args.service or []:
        name, _, target = spec.partition("=")
        module, _, argument = target.partition(":")
        launches.append(Launch(name, ["-m", module, *([argument] if argument else [])]))
    config = Path(os.environ.get("CARENET_CONFIG") or DEMO_ORGANISATION)
    up = Up(
        data_dir=Path(args.data).resolve(),
        root=REPO,
        launches=launches,
        sites=os.environ.get("CARENET_SITES", "*"),
        config=config,
        nats_url=os.environ.get("NATS_URL") or None,
        database_url=os.environ.get("DATABASE_URL") or None,
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
    import nats

    from shared.kit.bus.reconcile import reconcile

    failed = 0
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3)
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
    # `carenet report ...` and `carenet rebuild-reporting` (also `carenet reporting rebuild`).
    from services.reporting.cli import add_parsers

    add_parsers(sub)
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
