"""``carenet up`` from nothing: embedded NATS and PostgreSQL, services, up.json, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import httpx
import nats
import pytest

from shared.kit.bus.requests import request
from shared.local.up import available_services
from tests.conftest import REPO, eventually


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


def _connected_users(monitor_port: int) -> set[str]:
    url = f"http://127.0.0.1:{monitor_port}/connz?auth=true&limit=1000"
    with urllib.request.urlopen(url, timeout=5) as response:
        return {c.get("authorized_user", "") for c in json.loads(response.read())["connections"]}


def _carenet(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL"}}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args, "--data", str(data)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _check_nats_users(data: Path, summary: dict, services: set[str]) -> None:
    """Authentication is on; each service is connected as its own user; up.json holds the
    client's and the admin's credentials only, readable by this OS user only."""
    client, admin = urlsplit(summary["nats"]), urlsplit(summary["admin_nats"])
    assert (client.username, admin.username) == ("client", "admin")
    assert client.password and admin.password and client.password != admin.password
    for written in ("up.json", "nats.conf"):
        assert (data / written).stat().st_mode & 0o077 == 0, written
    ports = json.loads((data / "ports.json").read_text())
    with pytest.raises(Exception, match=r"(?i)authorization violation"):
        await nats.connect(f"nats://127.0.0.1:{ports['nats']}", allow_reconnect=False)
    users = await asyncio.to_thread(_connected_users, ports["nats_monitor"])
    assert services <= users, users
    conf = (data / "nats.conf").read_text()
    logs = "".join(p.read_text(errors="replace") for p in (data / "logs").glob("*.log"))
    for service in services:  # each service's password is in the server's config only
        password = re.search(rf'user: "{service}", password: "([^"]+)"', conf)
        assert password is not None and password[1] not in json.dumps(summary), service
        assert password[1] not in logs, f"{service}'s NATS password is in a log"
    assert client.password not in logs and admin.password not in logs
    # The client may ask and read, not publish events.
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(summary["nats"], error_cb=on_error, allow_reconnect=False)
    try:
        await nc.publish("evt.likang.intake.person.registered", b"{}")
        await nc.flush()

        async def refused() -> bool:
            return any("permissions violation" in error for error in errors)

        await eventually(refused, timeout=5)
    finally:
        await nc.close()
    # Operators' commands find the admin's URL in up.json.
    for command in (["reconcile"], ["reporting", "rebuild"]):
        done = await asyncio.to_thread(_carenet, data, *command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out.decode()


async def test_carenet_up_runs_everything_from_nothing_and_stops_cleanly(tmp_path: Path):
    data = tmp_path / "carenet"
    proc = _start_up(data)
    try:
        summary = _wait_for_summary(proc, data)
        assert urlsplit(summary["nats"]).hostname == "127.0.0.1"
        assert urlsplit(summary["nats"]).port != 4222
        assert ":5432/" not in summary["database"]
        expected = {launch.name for launch in available_services(REPO)} | {"notes", "tally"}
        assert set(summary["services"]) == expected
        for where in summary["services"].values():
            assert (await asyncio.to_thread(_readiness, where["http"]))["ready"] is True
        await _check_nats_users(data, summary, expected)

        nc = await nats.connect(summary["nats"])
        try:
            reply = await request(
                nc,
                "cmd",
                "likang",
                "notes",
                "add_note",
                {"command_id": str(uuid4()), "text": "kept across restarts"},
                token=summary["token"],
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
        made_before_restart = await _walk_through_with_made_tokens(data, summary)
        await _console_finds_who_was_registered(data, summary)
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
        # The signing key is kept: a token made before the restart is still good.
        assert summary["jwks"] == str(data / "identity" / "jwks.json")
        found = _cli(
            data,
            "intake",
            "find_people",
            "--site",
            "likang",
            "--text",
            "陳",
            token=made_before_restart,
        )
        assert found.returncode == 0, found.stdout + found.stderr
    finally:
        _stop(proc)
    assert proc.returncode == 0


async def _console_finds_who_was_registered(data: Path, summary: dict) -> None:
    """The console is served, written to up.json, and reaches intake with its user's token;
    its operations page reads every service's status and JetStream."""
    assert (await asyncio.to_thread(_readiness, summary["console"]))["ready"] is True
    async with httpx.AsyncClient(base_url=summary["console"]) as browser:
        await _console_user(browser, data, "sw-lee", "social_worker", "likang")
        found = await browser.get("/people", params={"text": "陳"})
        assert found.status_code == 200 and "陳美玲" in found.text
    async with httpx.AsyncClient(base_url=summary["console"]) as browser:
        await _console_user(browser, data, "ops", "operator", "*")
        status = await browser.get("/operations")
        assert status.status_code == 200 and "Every service is ready." in status.text
        for service in summary["services"]:
            assert f'<tr data-service="{service}">' in status.text
        # JetStream was read (as the admin user): dead letters are counted, not "?".
        assert re.search(r'class="dead-letters">\d+<', status.text)
        assert "Queue lag is as the services last reported it" not in status.text


async def _console_user(
    browser: httpx.AsyncClient, data: Path, username: str, role: str, site: str
) -> None:
    """``carenet console add-user`` as the operator types it, then signed in."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CARENET_DATA"}}
    env["PYTHONPATH"] = str(REPO)
    added = await asyncio.to_thread(
        subprocess.run,
        [
            *(sys.executable, "-m", "shared.cli", "console", "add-user", username),
            *("--data", str(data), "--roles", role, "--sites", site),
            "--password-stdin",
        ],
        input="a long secret\n",
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    form = await browser.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    signed = await browser.post(
        "/signin", data={"username": username, "password": "a long secret", "csrf": csrf[1]}
    )
    assert signed.status_code == 303


def _cli(data: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """``carenet ...`` as a user types it, finding NATS (and the token, unless one is given in
    CARENET_TOKEN) in ``data``'s up.json."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"NATS_URL", "DATABASE_URL", "CARENET_TOKEN", "CARENET_SIGNING_KEY"}
    }
    env |= {"PYTHONPATH": str(REPO), "CARENET_DATA": str(data)}
    if token is not None:
        env["CARENET_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _reply(done: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(done.stdout)


async def _walk_through_with_made_tokens(data: Path, summary: dict) -> str:
    """The README's intake walk-through with a token from `carenet token`; the operator token
    of up.json reads no personal data. Returns the social worker's token."""
    key = data / "identity" / "signing-key.pem"
    assert key.stat().st_mode & 0o077 == 0 and data.stat().st_mode & 0o077 == 0
    assert "PRIVATE" not in json.dumps(summary)

    made = await asyncio.to_thread(
        _cli, data, "token", "--sub", "sw-lee", "--roles", "social_worker", "--sites", "likang"
    )
    assert made.returncode == 0, made.stderr
    sw_lee = made.stdout.strip()
    refused = await asyncio.to_thread(
        _cli, data, "token", "--sub", "x", "--roles", "boss", "--sites", "likang"
    )
    assert refused.returncode == 2 and "unknown role(s) boss" in refused.stderr

    registered = await asyncio.to_thread(
        _cli,
        data,
        *("intake", "register_person", "--site", "likang", "--preferred-name", "陳太"),
        *("--legal-name", "陳美玲", "--roles", "family_carer", "--sex", "female"),
        *("--birth-year", "1962", "--phone", "+852 9123 4567"),
        token=sw_lee,
    )
    assert registered.returncode == 0, registered.stdout + registered.stderr
    mum = _reply(registered)["result"]["person_id"]
    read = await asyncio.to_thread(
        _cli, data, "intake", "person", "--site", "likang", "--person-id", mum, token=sw_lee
    )
    assert read.returncode == 0 and _reply(read)["result"]["legal_name"] == "陳美玲"
    # The README's correction: a phone typed wrong.
    fixed = await asyncio.to_thread(
        _cli,
        data,
        *("intake", "update_person", "--site", "likang", "--person-id", mum),
        *("--phone", "+852 9123 4568"),
        token=sw_lee,
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert _reply(fixed)["result"] == {"person_id": mum, "changed": ["phone"], "revision": 1}

    # The operator (up.json's token, sent when CARENET_TOKEN is not set) may not read it.
    as_operator = await asyncio.to_thread(
        _cli, data, "intake", "person", "--site", "likang", "--person-id", mum
    )
    assert as_operator.returncode == 1 and _reply(as_operator)["error"]["code"] == "forbidden"
    # Nor may sw-lee act for a site their token does not name.
    elsewhere = await asyncio.to_thread(
        _cli, data, "intake", "find_people", "--site", "clubhouse", "--text", "陳", token=sw_lee
    )
    assert elsewhere.returncode == 1 and _reply(elsewhere)["error"]["code"] == "forbidden"

    manager = await asyncio.to_thread(
        _cli, data, "token", "--sub", "mgr-wong", "--roles", "centre_manager", "--sites", "likang"
    )
    log = await asyncio.to_thread(
        _cli,
        data,
        *("intake", "access_log", "--site", "likang", "--person-id", mum),
        token=manager.stdout.strip(),
    )
    assert log.returncode == 0, log.stdout + log.stderr
    assert [e["actor"] for e in _reply(log)["result"]["entries"]] == ["sw-lee"]
    return sw_lee
