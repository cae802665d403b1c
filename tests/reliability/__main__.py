"""``python -m tests.reliability [--full] [--table-out PATH]``: run the campaign, print the table.

Exits 1 if any scenario lost or doubled an effect, a service crashed, or a step hung.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from tests.reliability.campaign import CI, FULL, Campaign, table


async def _run(full: bool, root: Path, seed: int, only: list[str]) -> tuple[str, bool]:
    campaign = Campaign(root, FULL if full else CI, seed=seed)
    began = time.monotonic()
    try:
        await campaign.start()
        if only:
            for name in only:
                method, _, argument = name.partition(":")
                await getattr(campaign, method)(*([argument] if argument else []))
        else:
            await campaign.run_all()
    finally:
        await campaign.stop()
    text = table(campaign.rows)
    text += (
        f"\n{'Full' if full else 'CI-sized'} run, seed {seed}, {time.monotonic() - began:.0f} s.\n"
    )
    return text, all(row.passed for row in campaign.rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the full run (bigger numbers)")
    parser.add_argument("--table-out", type=Path, help="also write the table (markdown) here")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="keep servers' data and logs in this directory")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only these scenarios, in order: plain, kill:<service>, nats_outage, "
        "postgres_outage, stall_reporting, poison, fuzz, oversized",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        text, passed = asyncio.run(_run(args.full, args.keep, args.seed, args.only))
    else:
        with tempfile.TemporaryDirectory(prefix="carenet-reliability-") as root:
            text, passed = asyncio.run(_run(args.full, Path(root), args.seed, args.only))
    print(text)
    if args.table_out:
        args.table_out.parent.mkdir(parents=True, exist_ok=True)
        args.table_out.write_text(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
