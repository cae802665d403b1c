"""``carenet status``: the command line of shared.kit.observability.status (whose
docstring is its help)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from shared.cli.client import operator_nats_url
from shared.kit.observability import status as observed
from shared.kit.observability.status import collect, endpoints, hub_organisation, report, show


def run(args: argparse.Namespace) -> int:
    try:
        hub = hub_organisation(args.hub, args.data)
    except ValueError as exc:
        print(f"carenet status: the sites file: {exc}", file=sys.stderr)
        return 2
    if not args.url and not endpoints([], args.data) and hub is None:
        print(
            "carenet status: no services: run `make up` (it writes .carenet/up.json) or name "
            "status URLs with --url",
            file=sys.stderr,
        )
        return 2
    nats_url = args.nats or operator_nats_url(args.data)
    status = asyncio.run(collect(args.url or [], args.data, nats_url, args.site, hub))
    if args.json:
        print(json.dumps(report(status, args.site), indent=2))
    else:
        print(show(status, args.site))
    return 0 if status.ok else 1


def add_parser(sub: Any) -> None:
    status = sub.add_parser(
        "status",
        help="each service's health, consumer lag, outbox backlog and dead letters",
        description=observed.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument(
        "--site",
        default=None,
        help="only instances that serve this site (at head office: and the link carrying its "
        "events)",
    )
    status.add_argument(
        "--url",
        action="append",
        metavar="[NAME=]URL",
        help="a service's status URL, e.g. http://10.0.0.5:8080 (repeatable; default: the "
        "services of up.json)",
    )
    status.add_argument(
        "--nats",
        default=None,
        help="NATS URL for lag and dead letters (default: NATS_URL, else admin_nats of up.json)",
    )
    status.add_argument(
        "--hub",
        action="store_true",
        help="this is head office: also each site's link and sources (the default when up.json "
        "says role hub; otherwise NATS_URL of an admin and CARENET_CONFIG)",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    status.set_defaults(handler=run)
