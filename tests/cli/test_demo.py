"""`carenet demo`: a month for the demo organisation through the real services, signed as their
staff, that reporting counts; loading it again applies nothing twice."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any

from shared.kit.service import ServiceRuntime
from tests.conftest import REPO, ServiceClient
from tests.identity import JWKS, token_for
from tests.reporting.conftest import settled, summary, system  # noqa: F401 - the fixture

TABLES = {
    "intake": ("people", "carer_links", "referrals", "consents", "cases", "assessments"),
    "groups": ("programmes", "sessions", "enrolments", "attendance"),
    "volunteers": (
        "volunteers",
        "trainings",
        "assignments",
        "hours",
        "peer_matches",
        "peer_contacts",
    ),
}


async def carenet_demo(
    nats_url: str, *options: str, database_url: str | None = None
) -> tuple[int, str, str]:
    env = {
        **os.environ,
        **({"DATABASE_URL": database_url} if database_url else {}),
        "NATS_URL": nats_url,
        "CARENET_SIGNING_KEY": str(JWKS.parent / "signing-key.pem"),
        "PYTHONPATH": str(REPO),
    }
    env.pop("CARENET_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        "demo",
        *options,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=240)
    return proc.returncode or 0, out.decode(), err.decode()


def caseload(nc) -> ServiceClient:
    """Miss Chan, a social worker of the centre, looks at her caseload."""
    return ServiceClient(
        nc,
        "intake",
        "likang",
        token=token_for("sw.chan", roles=["social_worker"], sites=["likang"]),
    )


async def rows(running: dict[str, ServiceRuntime]) -> dict[str, int]:
    """Rows of what the demo made, with every service's commands and events."""
    found: dict[str, int] = {}
    for service, runtime in running.items():
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            for table in (*TABLES.get(service, ()), "command_log", "outbox"):
                found[f"{service}.{table}"] = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return found


async def test_a_demo_month_is_reported_and_loading_it_again_changes_nothing(
    nc,
    nats_url,
    database_url,
    system,  # noqa: F811 - the reporting tests' fixture
):
    month = ("--month", "2026-10", "--size", "small")
    code, out, err = await carenet_demo(nats_url, *month, database_url=database_url)
    assert code == 0, err
    bar = re.findall(r"\] (\d+)/(\d+) commands", err)
    assert err.startswith("\r[") and bar and bar[-1][0] == bar[-1][1]  # the progress bar, full
    assert "carenet demo: 2026-10 loaded" in out and "open the console address" in out.lower()
    assert "Console accounts added: sw.chan, sw.lee, mgr.wong, vc.lau" in out
    assert re.search(r"Sign in at .* as sw\.chan with password \S{12,}\.", out)
    await settled(nc, system)
    first = await rows(system)
    for service, tables in TABLES.items():
        for table in tables:
            assert first[f"{service}.{table}"] > 0, (service, table)
    cases = (await caseload(nc).ok("qry:caseload", worker_id="sw.chan"))["cases"]
    assert cases
    figures: dict[str, Any] = (await summary(nc, "likang", "2026-10", exact=True))["figures"]
    assert figures["sessions_held"]["total"] > 0
    assert figures["attendances"]["total"] > 0
    assert figures["attendances"]["by"]["type"]["support_group"] > 0
    assert figures["cases_opened"]["total"] > 0
    clubhouse = (await summary(nc, "clubhouse", "2026-10", exact=True))["figures"]
    assert clubhouse["attendances"]["by"]["type"]["house_meeting"] > 0

    code, again, err = await carenet_demo(nats_url, *month, database_url=database_url)
    assert code == 0, err
    loaded = out.split("Console accounts")[0]
    assert again.startswith(loaded)  # the same counts: every repeat answered with its first reply
    assert "Console accounts already there, kept as they were: sw.chan" in again
    assert "with password" not in again
    await settled(nc, system)
    assert await rows(system) == first
    assert (await caseload(nc).ok("qry:caseload", worker_id="sw.chan"))["cases"] == cases
    assert (await summary(nc, "likang", "2026-10", exact=True))["figures"] == figures


async def test_without_carenet_up_or_with_a_month_not_over_the_demo_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "CARENET_DATA")}
    for options, said in (
        (["--data", str(tmp_path)], "start `carenet up`"),
        (["--month", "2999-01"], "2999-01 is not over yet"),
    ):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shared.cli",
            "demo",
            *options,
            cwd=REPO,
            env={**env, "PYTHONPATH": str(REPO)},
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 2
        assert said in err.decode()
