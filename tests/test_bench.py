"""``python -m bench`` runs every workload end to end at tiny sizes (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_benchmark_gives_every_workload_a_carenet_and_a_baseline_figure(
    tmp_path: Path,
) -> None:
    out = tmp_path / "latest.json"
    tiny = ["--events", "300", "--requests", "64", "--clients", "8", "--rate", "50"]
    tiny += ["--seconds", "1", "--rebuild-events", "300", "--attendances", "2000"]
    finished = subprocess.run(
        [sys.executable, "-m", "bench", *tiny, "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]

    results = json.loads(out.read_text())
    workloads = [w["workload"] for w in results["workloads"]]
    assert len(workloads) == 7, workloads
    for expected in (
        "event ingest",
        "`register_person`",
        "`enrol`",
        "`record_attendance`",
        "freshness",
        "rebuild",
        "summary",
    ):
        assert any(expected in w for w in workloads), (expected, workloads)
    for row in results["workloads"]:
        assert row["carenet"]["value"] > 0, row
        assert row["baseline"]["value"] > 0, row
        assert row["ratio"] is not None and row["ratio"] > 0, row
        assert row["better"] in {"higher", "lower"}, row
    for row in results["workloads"][1:5]:  # commands and freshness: latency matters
        assert row["carenet"]["p50_ms"] is not None and row["baseline"]["p99_ms"] is not None
    assert "| workload |" in finished.stdout
