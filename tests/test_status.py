"""``carenet status`` against real services: readiness, lag, outbox and dead letters."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.reporting.app import build as build_reporting
from services.volunteers.app import build as build_volunteers
from shared.kit.service import ServiceRuntime
from tests.bus.helpers import publish_raw
from tests.conftest import REPO, eventually

BUILDS = {
    "intake": build_intake,
    "groups": build_groups,
    "volunteers": build_volunteers,
    "reporting": build_reporting,
}


@pytest.fixture
async def system(start_service) -> dict[str, ServiceRuntime]:
    running = {}
    for name, build in BUILDS.items():
        extra = {"CARENET_PUBLISH_DAY": "0"} if name == "reporting" else {}
        running[name] = await start_service((name, build), **extra)
    return running


def write_up_json(folder: Path, nats_url: str, system: dict[str, ServiceRuntime]) -> Path:
    """The layout ``carenet up`` writes: the CLI finds the services and NATS there."""
    folder.mkdir(exist_ok=True)
    summary = {
        "nats": nats_url,
        "admin_nats": nats_url,
        "services": {
            name: {"http": f"http://127.0.0.1:{runtime.status.port}"}
            for name, runtime in system.items()
        },
    }
    (folder / "up.json").write_text(json.dumps(summary))
    return folder


async def carenet(*args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "CARENET_DATA")}
    env["PYTHONPATH"] = str(REPO)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        *args,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def status_json(data: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out = await carenet("status", "--data", str(data), "--json", *extra)
    return code, json.loads(out)


async def test_every_service_ready_exits_0_and_the_table_names_each_one(
    system, nats_url: str, tmp_path: Path
) -> None:
    data = write_up_json(tmp_path / "carenet", nats_url, system)
    code, out = await carenet("status", "--data", str(data))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SERVICE", "URL", "READY"]
    for name in BUILDS:
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[2] == "yes", row
    assert "consumers (pending / ack pending):" in out

    code, report = await status_json(data)
    assert code == 0 and report["ready"] is True and report["note"] is None
    by_name = {s["service"]: s for s in report["services"]}
    assert set(by_name) == set(BUILDS)
    assert {c["stream"] for c in by_name["intake"]["consumers"]} == {"GROUPS", "VOLUNTEERS"}
    assert {c["stream"] for c in by_name["reporting"]["consumers"]} == {
        "INTAKE",
        "GROUPS",
        "VOLUNTEERS",
    }
    for found in by_name.values():
        assert found["sites"] is None
        assert found["backlog"] == 0 and found["parked"] == 0
        assert found["dead_letters"] == 0
        assert all(c["pending"] == 0 for c in found["consumers"])


async def test_a_stopped_service_is_shown_not_ready_and_the_exit_code_is_1(
    start_service, settings_for, nats_url: str, tmp_path: Path
) -> None:
    # Groups is started here, not by the fixture, which would stop it again after the test;
    # before reporting, which waits for its stream.
    settings = settings_for("groups")
    groups = ServiceRuntime(build_groups(settings), settings)
    system: dict[str, ServiceRuntime] = {}
    for name, build in BUILDS.items():
        if name == "groups":
            system[name] = groups
            await asyncio.wait_for(groups.start(), timeout=30)
        else:
            system[name] = await start_service((name, build))
    data = write_up_json(tmp_path / "carenet", nats_url, system)
    await groups.stop()

    code, out = await carenet("status", "--data", str(data))
    assert code == 1, out
    row = next(line for line in out.splitlines() if line.startswith("groups "))
    assert row.split()[2] == "NO" and "unreachable" in row
    code, report = await status_json(data)
    assert code == 1 and report["ready"] is False
    by_name = {s["service"]: s for s in report["services"]}
    assert by_name["groups"]["reachable"] is False
    assert all(by_name[n]["ready"] for n in ("intake", "volunteers", "reporting"))


async def test_a_dead_lettered_poison_event_is_counted_for_each_service_that_consumed_it(
    system, nats_url: str, nc: NatsClient, tmp_path: Path
) -> None:
    data = write_up_json(tmp_path / "carenet", nats_url, system)
    await publish_raw(nc, "evt.likang.intake.person.registered", b"{not json")

    async def dead_letters() -> dict[str, int] | None:
        _, report = await status_json(data)
        counted = {s["service"]: s["dead_letters"] for s in report["services"]}
        return counted if counted["groups"] and counted["reporting"] else None

    counted = await eventually(dead_letters, timeout=30, interval=0.5)
    info = await nc.jetstream().stream_info("DLQ", subjects_filter="dlq.>")
    assert sum(counted.values()) == info.state.messages
    assert counted["intake"] == 0
    assert counted["groups"] == 1 and counted["reporting"] == 1
    # Dead letters are for an operator to read; the services stay ready.
    code, out = await carenet("status", "--data", str(data))
    assert code == 0, out


async def test_site_limits_the_table_to_the_instances_serving_that_site(
    start_service, nats_url: str, tmp_path: Path
) -> None:
    likang = await start_service(("intake", build_intake), CARENET_SITES="likang")
    jinsha = await start_service(("intake", build_intake), CARENET_SITES="jinsha")
    urls = [f"--url=http://127.0.0.1:{r.status.port}" for r in (likang, jinsha)]
    empty = tmp_path / "nothing-here"

    _, report = await status_json(empty, "--nats", nats_url, *urls)
    assert len(report["services"]) == 2
    code, report = await status_json(empty, "--nats", nats_url, "--site", "jinsha", *urls)
    assert code == 0
    assert [s["url"] for s in report["services"]] == [urls[1].removeprefix("--url=")]
    assert "jinsha" in report["services"][0]["sites"]
