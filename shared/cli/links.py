"""``carenet links``: head office keeps its sources of every site armed, until stopped.

What ``carenet up --role hub`` does in its own process, for a hub run otherwise (the compose
profile ``hub`` runs it as the service ``hub-links``, beside reporting). It connects to the
hub's NATS as the operator (``NATS_URL``, else ``admin_nats`` of ``up.json``), creates head
office's ``INTAKE``, ``GROUPS`` and ``VOLUNTEERS`` (``REPORTING`` for a site sharing only
summaries) with one source per site that has ``own_deployment = true`` in the sites file
(``CARENET_CONFIG``), or adds the sources they lack, then asks each site every second whether
it answers and re-arms the sources of a site whose link came back (``shared.kit.bus.hub``).
It logs JSON lines (each link going down or up, each re-arm) and stops on SIGINT or SIGTERM.
One instance per hub is enough; a second does no harm (both re-arm the same sources).

``carenet links --site S``, run once at a site (``NATS_URL`` its admin), makes what that site
needs for head office: for a site sharing only summaries, its ``SUMMARY_OUT`` stream (``carenet
up --role site`` does it by itself).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("carenet.links")


def run(args: argparse.Namespace) -> int:
    from shared.agency.sites import DEMO_ORGANISATION, load_organisation
    from shared.cli.client import operator_nats_url
    from shared.kit.observability.logging import configure_logging

    url = operator_nats_url(args.data)
    if url is None:
        print(
            "carenet links: set NATS_URL (the hub's admin user) or run `carenet up --role hub`, "
            "which writes up.json",
            file=sys.stderr,
        )
        return 2
    config = Path(os.environ.get("CARENET_CONFIG") or DEMO_ORGANISATION)
    try:
        organisation = load_organisation(config)
    except ValueError as exc:
        print(f"carenet links: {config}: {exc}", file=sys.stderr)
        return 2
    sites = [site.code for site in organisation.deployments()]
    if args.site:
        if args.site not in sites:
            print(f"carenet links: {args.site} has no own_deployment = true", file=sys.stderr)
            return 2
        return asyncio.run(_provision_site(url, organisation, args.site))
    if not sites:
        print(
            f"carenet links: no site in {config} has own_deployment = true: nothing to link",
            file=sys.stderr,
        )
        return 2
    configure_logging("links", os.environ.get("CARENET_LOG_LEVEL", "INFO").upper())
    return asyncio.run(_keep_armed(url, organisation, args.interval))


async def _keep_armed(url: str, organisation: Any, interval: float) -> int:
    from shared.kit.bus.hub import HubLinks
    from shared.kit.config import ConfigError, stream_replicas

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        replicas = stream_replicas(os.environ)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    try:
        links = await HubLinks.connect(url, organisation, interval=interval, replicas=replicas)
    except Exception as exc:  # noqa: BLE001 - one line, then the supervisor starts us again
        log.error("cannot reach the hub's NATS: %r", exc)
        return 1
    client = links.nats
    log.info("keeping the sources of %s armed", ", ".join(links.links))
    try:
        await links.run(stop)
    except Exception as exc:  # noqa: BLE001 - provisioning failed: say why, exit non-zero
        log.error("could not provision head office's streams: %r", exc)
        return 1
    finally:
        await client.close()
    log.info("stopped", extra={"links": links.report()})
    return 0


async def _provision_site(url: str, organisation: Any, site: str) -> int:
    from shared.kit.bus.address import connect_nats
    from shared.kit.bus.hub import provision_site

    client = await connect_nats(url, connect_timeout=5)
    try:
        made = await provision_site(client.jetstream(), organisation, site)
    finally:
        await client.close()
    print(f"{site}: {'SUMMARY_OUT ready' if made else 'shares its events: nothing to make'}")
    return 0


def add_parser(sub: Any) -> None:
    links = sub.add_parser(
        "links",
        help="at head office: source every site's streams and keep them armed (until stopped)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    links.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between two probes of every site (default 1)",
    )
    links.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    links.add_argument(
        "--site",
        default=None,
        help="at a site, once: make what it needs for head office (SUMMARY_OUT), then exit",
    )
    links.set_defaults(handler=run)
