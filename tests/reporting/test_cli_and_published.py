"""`carenet report` in every format, summary.published, and the month's gauges."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from services.reporting.app import build as build_reporting
from tests.bus.helpers import stream_messages
from tests.conftest import REPO, ServiceClient, eventually
from tests.identity import token_for
from tests.reporting.agency import Agency
from tests.reporting.conftest import HAS_VOLUNTEERS, settled, summary
from tests.reporting.scenario import october

MANAGER = token_for("mgr-likang", roles=["centre_manager"], sites=["likang"])
"""Likang's centre manager: the only one who may see the centre's exact figures."""
ANALYST = token_for("analyst-1", roles=["analyst"], sites=["*"])
"""Head office's analyst: de-identified figures of every site."""


async def carenet(nats_url: str, *args: str, token: str = MANAGER) -> tuple[int, str, str]:
    env = {**os.environ, "NATS_URL": nats_url, "PYTHONPATH": str(REPO), "CARENET_TOKEN": token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_readme_walk_through_prints_a_month_in_every_format(
    nc, system, nats_url, tmp_path: Path
):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    base = ("report", "--site", "likang", "--period", "2026-10")
    code, table, err = await carenet(nats_url, *base)
    assert code == 0, err
    assert "site likang, 2026-10-01 to 2026-10-31, deidentified figures" in table
    lines: dict[str, str] = {}
    for line in table.splitlines():  # the first line of each figure; targets come last
        lines.setdefault(line.split("  ")[0].strip(), line)
    assert "Cases opened                                       16 of     10.2  157.0%" in table
    assert lines["Cases opened"].split()[-1] == "16"
    assert lines["Referrals received"].split()[-1] == "11"
    assert "self" in table and "x: not shown" in table
    code, text, err = await carenet(nats_url, *base, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "site",
        "from",
        "to",
        "mode",
        "figure",
        "breakdown",
        "category",
        "value",
    ]
    by_key = {(r["figure"], r["breakdown"], r["category"]): r["value"] for r in rows}
    assert by_key[("cases_opened", "total", "")] == "16"
    # 1 reactivated is hidden, so 15 new is too: 16 - 15 would give it away.
    assert by_key[("cases_opened", "kind", "new")] == "x"
    assert by_key[("referrals_received", "source", "self")] == "x"
    code, text, err = await carenet(nats_url, *base, "--format", "json", "--exact")
    assert code == 0, err
    assert json.loads(text) == await summary(nc, "likang", "2026-10", exact=True)
    book = tmp_path / "likang-2026-10.xlsx"
    code, _, err = await carenet(nats_url, *base, "--format", "xlsx", "--out", str(book))
    assert code == 0, err
    sheet = load_workbook(book)["Summary"]
    values = {(r[0], r[1], r[2]): r[3] for r in sheet.iter_rows(min_row=8, values_only=True)}
    assert values[("Cases opened", "total", None)] == 16
    assert values[("Referrals received", "source", "self")] == "x"
    assert sheet["B2"].value == "likang"
    every_site = ("report", "--site", "*", "--period", "2026-10")
    refused = await carenet(nats_url, *every_site, "--exact", token=ANALYST)
    assert refused[0] == 1 and "not_allowed" in refused[1]
    everyone = await carenet(nats_url, *every_site, token=ANALYST)
    assert everyone[0] == 0 and "site *," in everyone[1]


async def test_a_closed_month_is_published_once_per_site(nc, system, start_service):
    agency = Agency(nc)
    await october(agency, volunteers=False)
    await settled(nc, system)
    staff = ServiceClient(nc, "reporting", "likang")
    first = await staff.ok("publish_summary", month="2026-10")
    again = await staff.ok("publish_summary", month="2026-10")
    assert first["published"] is True and again["published"] is False
    this_month = datetime.now(ZoneInfo("Asia/Hong_Kong")).strftime("%Y-%m")
    refused = await staff.cmd("publish_summary", month=this_month)
    assert refused.error is not None and refused.error.code == "not_allowed"

    async def published() -> list[dict]:
        return [
            json.loads(m.data)
            for m in await stream_messages(nc, "REPORTING")
            if json.loads(m.data)["type"] == "reporting.summary.published"
        ]

    [event] = await eventually(published)
    assert event["site"] == "likang" and event["data"]["month"] == "2026-10"
    deidentified = await summary(nc, "likang", "2026-10")
    assert event["data"]["figures"] == deidentified["figures"]
    assert event["data"]["suppressed"] == deidentified["suppressed"]
    # A second instance publishing from the 1st of each month: last month, every site, once.
    second = await start_service(
        ("reporting", build_reporting),
        CARENET_PUBLISH_DAY="1",
        CARENET_REPORTING_INTERVAL_SECONDS="1",
    )
    last_month = (datetime.now(ZoneInfo("Asia/Hong_Kong")).replace(day=1)).toordinal() - 1
    month = datetime.fromordinal(last_month).strftime("%Y-%m")
    sites = set(second.settings.sites)

    async def every_site() -> list[dict]:
        found = [e for e in await published() if e["data"]["month"] == month]
        return found if {e["site"] for e in found} == sites else []

    await eventually(every_site)
    await asyncio.sleep(2.5)  # more rounds of the periodic task publish nothing more
    found = [e for e in await published() if e["data"]["month"] == month]
    assert sorted(e["site"] for e in found) == sorted(sites)
    # The month's headline figures per site, for Prometheus.
    metrics = await asyncio.to_thread(_get, f"http://127.0.0.1:{second.status.port}/metrics")
    assert 'carenet_reporting_month_figure{figure="cases_opened",site="likang"}' in metrics
    assert "carenet_consumer_pending" in metrics


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())
