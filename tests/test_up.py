"""``carenet up`` from nothing: embedded NATS and PostgreSQL, services, up.json, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from uuid import uuid4

import asyncpg
import nats

from shared.kit.bus.requests import request
from shared.local.up import available_services
from tests.conftest import REPO, eventually
from tests.identity import HEAD_OFFICE


def _start_up(data: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL"}}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "up",
            "--data",
            str(data),
            "--service",
            "notes=tests.example:notes",
            "--service",
            "tally=tests.example:tally",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for_summary(proc: subprocess.Popen[bytes], data: Path) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (data / "up.json").exists():
            return json.loads((data / "up.json").read_text())
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        time.sleep(0.2)
    raise AssertionError("carenet up did not write up.json in time")


def _readiness(url: str) -> dict:
    with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
        return json.loads(response.read())


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out.decode()


async def test_carenet_up_runs_everything_from_nothing_and_stops_cleanly(tmp_path: Path):
    data = tmp_path / "carenet"
    proc = _start_up(data)
    try:
        summary = _wait_for_summary(proc, data)
        assert summary["nats"].startswith("nats://127.0.0.1:")
        assert not summary["nats"].endswith(":4222")
        assert ":5432/" not in summary["database"]
        expected = {launch.name for launch in available_services(REPO)} | {"notes", "tally"}
        assert set(summary["services"]) == expected
        for where in summary["services"].values():
            assert (await asyncio.to_thread(_readiness, where["http"]))["ready"] is True

        nc = await nats.connect(summary["nats"])
        try:
            reply = await request(
                nc,
                "cmd",
                "likang",
                "notes",
                "add_note",
                {"command_id": str(uuid4()), "text": "kept across restarts"},
                token=HEAD_OFFICE,
            )
        finally:
            await nc.close()
        assert reply.ok

        async def tallied() -> int:
            conn = await asyncpg.connect(summary["database"])
            try:
                return int(await conn.fetchval("SELECT n FROM tally.counter"))
            finally:
                await conn.close()

        await eventually(tallied, timeout=30)
    finally:
        output = _stop(proc)
    assert proc.returncode == 0, output
    assert "carenet is up." in output
    assert not (data / "up.json").exists()
    children = await asyncio.create_subprocess_exec(
        "pgrep", "-f", str(data), stdout=asyncio.subprocess.PIPE
    )
    found, _ = await children.communicate()
    assert found.split() == [], "servers or services left running"

    # A second run finds the data of the first.
    proc = _start_up(data)
    try:
        summary = _wait_for_summary(proc, data)
        conn = await asyncpg.connect(summary["database"])
        try:
            assert await conn.fetchval("SELECT text FROM notes.notes") == "kept across restarts"
        finally:
            await conn.close()
    finally:
        _stop(proc)
    assert proc.returncode == 0
