"""``python -m bench``: every workload against carenet and its raw baseline, in one run.

Starts its own nats-server and PostgreSQL (fsync off; free ports; removed afterwards), prints
a markdown table on stdout (progress goes to stderr) and writes the same rows to
``bench/results/latest.json`` (``--out``). The defaults are scaled down from the issue's sizes
so that a run finishes in under five minutes on two cores; the flags take the full sizes:

    python -m bench --events 200000 --rebuild-events 1000000 --attendances 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import commands, freshness, ingest, rebuild, summary
from bench.common import Row, Servers, markdown_table, say, write_results

WORKLOADS = ("ingest", "commands", "freshness", "rebuild", "summary")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n", 1)[0] if __doc__ else None
    )
    p.add_argument("--events", type=int, default=50_000, help="ingest: mixed events (issue: 200k)")
    p.add_argument(
        "--requests", type=int, default=2_000, help="commands: requests per command and side"
    )
    p.add_argument("--clients", type=int, default=64, help="commands: concurrent clients")
    p.add_argument("--rate", type=int, default=500, help="freshness: commands per second")
    p.add_argument("--seconds", type=float, default=10.0, help="freshness: how long")
    p.add_argument(
        "--rebuild-events", type=int, default=200_000, help="rebuild: events (issue: 1M)"
    )
    p.add_argument(
        "--attendances", type=int, default=1_000_000, help="summary: attendances (issue: 1M)"
    )
    p.add_argument(
        "--only", action="append", choices=WORKLOADS, help="run only this workload (repeatable)"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    return p


async def run_all(options: argparse.Namespace) -> list[Row]:
    chosen = options.only or list(WORKLOADS)
    rows: list[Row] = []
    with Servers() as servers:
        say(f"nats {servers.nats_url}, postgres port {servers.postgres.port} (fsync off)")
        if "ingest" in chosen:
            rows.append(await ingest.run(servers, options.events))
        if "commands" in chosen or "freshness" in chosen:
            rows.extend(
                await commands.run(
                    servers,
                    requests=options.requests,
                    clients=options.clients,
                    commands_too="commands" in chosen,
                    freshness=(
                        (lambda cluster: freshness.run(cluster, options.rate, options.seconds))
                        if "freshness" in chosen
                        else None
                    ),
                )
            )
        if "rebuild" in chosen:
            rows.append(await rebuild.run(servers, options.rebuild_events))
        if "summary" in chosen:
            rows.append(await summary.run(servers, options.attendances))
    return rows


def _shown(path: Path) -> str:
    """A path as the results show it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(RESULTS.parent.parent.parent))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> None:
    options = parser().parse_args(argv)
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = asyncio.run(run_all(options))
    seconds = time.perf_counter() - started
    settings = {k: (_shown(v) if isinstance(v, Path) else v) for k, v in vars(options).items()}
    write_results(options.out, rows, settings, seconds, load_before)
    print(markdown_table(rows))
    load_after = os.getloadavg()
    print(
        f"\n{seconds:.0f} s in all on {os.cpu_count()} CPUs (load average {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after); written to {options.out}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
