"""The reporting commands of the ``carenet`` CLI: ``report`` and ``reporting rebuild``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from shared.kit.contracts import summary_export as export


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="print a site's figures for a period (table, csv, json or xlsx)",
        description="A site's figures for a period, from the reporting service. "
        "De-identified unless --exact (one site only).",
    )
    report.add_argument("--site", required=True, help="site code (children included), or *")
    report.add_argument("--period", required=True, help="2026-11, 2026-Q3, 2026 or JSON range")
    report.add_argument("--format", choices=export.FORMATS, default="table")
    report.add_argument("--exact", action="store_true", help="exact figures (one site only)")
    report.add_argument("--out", type=Path, help="write to this file (required for xlsx)")
    report.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    report.set_defaults(handler=lambda args: asyncio.run(report_command(args)))
    rebuild = sub.add_parser(
        "rebuild-reporting",
        help="empty reporting's read models and replay every stream (`carenet reporting rebuild`)",
    )
    rebuild.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    rebuild.set_defaults(handler=lambda args: asyncio.run(rebuild_command(args)))


def _fail(message: str) -> int:
    print(f"carenet: {message}", file=sys.stderr)
    return 2


async def report_command(args: argparse.Namespace) -> int:
    from nats.errors import Error as NatsError

    from shared.cli.client import NO_TOKEN, nats_url, subject_site, token
    from shared.kit.bus.address import NatsAddress, NatsAddressError, connect_nats
    from shared.kit.bus.requests import request

    if args.format == "xlsx" and args.out is None:
        return _fail("an xlsx report needs --out FILE")
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
    period: Any = args.period
    if period.strip().startswith("{"):
        period = json.loads(period)
    try:
        nc = await connect_nats(url, connect_timeout=3, allow_reconnect=False)
    except (OSError, NatsError, TimeoutError) as exc:
        return _fail(f"cannot reach NATS at {where} ({type(exc).__name__})")
    try:
        reply = await request(
            nc,
            "qry",
            subject_site(args.site),
            "reporting",
            "summary",
            {"site": args.site, "period": period, "exact": args.exact},
            timeout=30,
            token=bearer,
        )
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    if reply.error is not None and reply.error.code == "unavailable":
        # Nobody answered, or not in time: request() says which.
        return _fail(reply.error.message)
    if not reply.ok or reply.result is None:
        print(json.dumps(reply.model_dump(mode="json", exclude_none=True), indent=2))
        return 1
    text = export.write(reply.result, args.format, args.out)
    if text is not None:
        sys.stdout.write(text)
    else:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


async def rebuild_command(args: argparse.Namespace) -> int:
    from services.reporting.rebuild import rebuild
    from shared.cli.client import database_url, operator_nats_url
    from shared.cli.progress import progress_bar

    url = operator_nats_url(args.data)
    database = database_url(args.data)
    if url is None or database is None:
        return _fail("set NATS_URL and DATABASE_URL (or run `make up`, which writes up.json)")
    result = await rebuild(database, url, progress=progress_bar)
    sys.stderr.write("\n")
    print(
        f"rebuilt reporting from {result.read:,} events ({result.applied:,} applied) "
        f"in {result.seconds:.1f} s: {result.per_second:,.0f} events/s"
    )
    return 0
