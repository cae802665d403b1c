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
from tests.reporting import expected
from tests.reporting.agency import Agency
from tests.reporting.conftest import HAS_VOLUNTEERS, settled, summary
from tests.reporting.scenario import october
from tests.reporting.test_month import CENTRE
from tests.reporting.test_suppression import assert_deidentified
from tests.unit.reporting.reader import numbers

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
    exact = expected.figures(agency.ledger, CENTRE, "2026-10-01", "2026-10-31")
    assert_deidentified({"": exact}, {"": event["data"]["figures"]}, event["data"]["suppressed"])
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


async def test_a_centres_and_its_street_programmes_summaries_read_together_give_nothing_away(
    nc, system
):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    streets = sorted(CENTRE - {"likang"})
    for code in ("likang", *streets):
        await ServiceClient(nc, "reporting", code).ok("publish_summary", month="2026-10")

    async def published() -> dict[str, dict]:
        found = {
            e["site"]: e["data"]
            for e in (json.loads(m.data) for m in await stream_messages(nc, "REPORTING"))
            if e["type"] == "reporting.summary.published" and e["data"]["month"] == "2026-10"
        }
        return found if set(found) == CENTRE else {}

    events = await eventually(published)

    def exact(sites: set[str]) -> dict:
        figures = expected.figures(agency.ledger, sites, "2026-10-01", "2026-10-31")
        return {k: v for k, v in figures.items() if k not in SET_ASIDE}

    def published_figures(code: str) -> dict:
        return {k: v for k, v in events[code]["figures"].items() if k not in SET_ASIDE}

    want = {"": exact(CENTRE), "sites.likang": exact({"likang"})}
    got = {"": published_figures("likang")}
    hidden = list(events["likang"]["suppressed"])
    for code in streets:
        want[f"sites.{code}"] = exact({code})
        got[f"sites.{code}"] = published_figures(code)
        hidden += [f"sites.{code}.{path}" for path in events[code]["suppressed"]]
    # What the centre did itself is published nowhere, but is its summary less its street
    # programmes' wherever all of those are shown: the reader is given that (and its zeros).
    shown = numbers(got)
    own: dict = json.loads(json.dumps(want["sites.likang"]))

    def derive(node: dict, path: str) -> None:
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if isinstance(value, dict):
                derive(value, here)
            elif value not in (0, 0.0) and any(
                shown.get(p) is None for p in (here, *(f"sites.{c}.{here}" for c in streets))
            ):
                node[key] = None
                hidden.append(f"sites.likang.{here}")

    derive(own, "")
    got["sites.likang"] = own
    assert_deidentified(want, got, hidden)


# Left out of the joint check: outcomes' means do not add up across sites, and distinct people
# at a parent are fewer than its sites' sum (the centre's own cannot be derived).
SET_ASIDE = {"outcomes", "unique_participants", "volunteers_active", "users_turned_volunteers"}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())
