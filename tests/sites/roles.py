"""Head office and sites as real ``carenet up --role ...`` processes, for the tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient

from tests.conftest import REPO
from tests.identity import JWKS


class RoleProcess:
    """One ``carenet up`` in its own data directory; ``stop`` and ``start`` keep the data."""

    def __init__(self, data: Path, *args: str, config: Path | None = None) -> None:
        self.data = data
        self.args = list(args)
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{data.name}.out"

    def start(self, timeout: float = 90) -> dict[str, Any]:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "CARENET_JWKS": str(JWKS),  # every role trusts the tests' tokens
        }
        for name in ("NATS_URL", "DATABASE_URL", "CARENET_SITES", "CARENET_DATA"):
            env.pop(name, None)
        if self.config is not None:
            env["CARENET_CONFIG"] = str(self.config)
        summary = self.data / "up.json"
        summary.unlink(missing_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "up", "--data", str(self.data), *self.args],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not summary.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"carenet up {self.args} did not start:\n{self.output()}")
            time.sleep(0.1)
        return self.summary

    @property
    def summary(self) -> dict[str, Any]:
        return dict(json.loads((self.data / "up.json").read_text()))

    def stop(self, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"carenet up {self.args} did not stop:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def connect(self, who: str = "nats") -> NatsClient:
        """A client of this role's NATS (``nats``: the client user; ``admin_nats``)."""
        return await nats.connect(
            self.summary[who], max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )
