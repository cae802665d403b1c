"""A one-line progress bar on stderr, for the CLI's long runs (rebuild, import)."""

from __future__ import annotations

import sys


def progress_bar(done: int, total: int, seconds: float, unit: str = "events") -> None:
    width = 30
    share = done / total if total else 1.0
    filled = int(width * min(share, 1.0))
    rate = done / seconds if seconds > 0 else 0.0
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {unit}  {rate:,.0f}/s"
    )
    sys.stderr.flush()
