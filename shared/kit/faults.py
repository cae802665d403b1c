"""Crash points for reliability tests: ``CARENET_CRASH_AT=<point>`` kills the process there.

A real ``os._exit`` (no cleanup, like kill -9) at a named point is the only honest way to
prove that a crash between two steps loses and doubles nothing. Unset, it costs one dict
lookup.
"""

from __future__ import annotations

import os


def crash_point(name: str) -> None:
    if os.environ.get("CARENET_CRASH_AT") == name:
        os._exit(70)
