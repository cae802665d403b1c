"""``python -m bench.peak MODULE ARGS...``: run MODULE as ``__main__`` and, at exit, write
this process's peak resident memory in KiB to the file named by ``BENCH_PEAK_FILE``.

``os.wait4``'s ``ru_maxrss`` is no use for a child of a large process: Linux carries the
high-water mark across ``fork`` and ``exec``, so every child reports at least the bench's own
size. ``VmHWM`` in ``/proc/self/status`` belongs to the memory of the program after ``exec``.
"""

from __future__ import annotations

import atexit
import os
import resource
import runpy
import sys
from pathlib import Path


def peak_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


def _report() -> None:
    Path(os.environ["BENCH_PEAK_FILE"]).write_text(str(peak_kib()))


if __name__ == "__main__":
    atexit.register(_report)
    module = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
