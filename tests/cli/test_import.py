"""`carenet import`: existing clients in through intake's real commands, once however often the
file is imported, with every refused row named."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from services.intake.app import build
from tests.conftest import REPO
from tests.identity import token_for

HEADER = (
    "external_id,preferred_name,legal_name,roles,sex,birth_year,phone,language,address,"
    "registered_on,consent_service,consent_outcome_data,carer_of,relationship"
)
GOOD = [
    "C-1,陳太,陳美玲,family_carer,female,1962,+852 9123 4567,yue,Flat 12,2025-03-01,yes,no,"
    "C-2,parent",
    "C-2,Ah Ming,陳志明,person_in_recovery,male,1990,,,,2025-03-01,yes,yes,,",
    "C-3,Mrs Ho,,family_carer;volunteer,female,1958,+852 6000 1111,,,,yes,,,",
    # Not a family carer: intake refuses the link, the person still goes in.
    "C-4,Mr Lam,,person_in_recovery,male,1970,,,,,,,C-3,spouse",
]
BAD = [
    "C-5,Old,,person_in_recovery,male,1850,,,,,,,,",  # row 6: birth_year
    "C-6,Nobody,,astronaut,,,,,,,,,,",  # row 7: roles
    "C-1,Again,,family_carer,,,,,,,,,,",  # row 8: external_id twice
    "C-7,Maybe,,family_carer,,,,,,,maybe,,,",  # row 9: consent_service
    "C-8,Lost,,family_carer,,,,,,,,,C-99,parent",  # row 10: carer_of
]


def people_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def carenet_import(
    path: Path, nats_url: str, *options: str, sub: str = "sw-lee"
) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "CARENET_TOKEN": token_for(sub, roles=["social_worker"], sites=["likang"]),
        "PYTHONPATH": str(REPO),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        "import",
        str(path),
        "--site",
        "likang",
        *options,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def intake_rows(intake) -> dict[str, Any]:
    async with intake.pool.acquire() as conn:
        return {
            "people": sorted(
                tuple(r)
                for r in await conn.fetch("SELECT person_id, preferred_name, site FROM people")
            ),
            "links": await conn.fetch(
                "SELECT carer_id, cared_for_id, relationship FROM carer_links"
            ),
            "consents": sorted(
                tuple(r) for r in await conn.fetch("SELECT person_id, purpose, given FROM consents")
            ),
            "outbox": await conn.fetchval("SELECT count(*) FROM outbox"),
        }


def refused(outcome: dict[str, Any]) -> set[tuple[int, str]]:
    return {(r["row"], r["column"]) for r in outcome["refused"]}


async def test_importing_twice_registers_each_person_once_and_names_every_refused_row(
    start_service, nats_url, tmp_path
):
    intake = await start_service(("intake", build))
    path = people_csv(tmp_path, GOOD + BAD)

    code, out, err = await carenet_import(path, nats_url)
    assert code == 1, err
    assert err.startswith("\r[") and "] 6/6 rows" in err  # the progress bar: 4 people, 2 links
    assert "4 people, 5 consents, 1 carer links; 6 rows refused" in out
    for line in ("row 6", "birth_year"), ("row 7", "roles"), ("row 8", "also on row 2"):
        assert any(all(part in shown for part in line) for shown in out.splitlines()), line
    first = await intake_rows(intake)
    names = [p[1] for p in first["people"]]
    assert sorted(names) == sorted(["陳太", "Ah Ming", "Mrs Ho", "Mr Lam"])
    ids = {name: person_id for person_id, name, _ in first["people"]}
    assert [tuple(r) for r in first["links"]] == [(ids["陳太"], ids["Ah Ming"], "parent")]
    assert (ids["Ah Ming"], "outcome_data", True) in first["consents"]
    assert (ids["陳太"], "outcome_data", False) in first["consents"]

    code, out, err = await carenet_import(path, nats_url, "--json")
    assert code == 1, err
    again = json.loads(out)
    assert await intake_rows(intake) == first  # no doubles, no new events
    assert refused(again) == {
        (5, "carer_of"),
        (6, "birth_year"),
        (7, "roles"),
        (8, "external_id"),
        (9, "consent_service"),
        (10, "carer_of"),
    }
    link = next(r for r in again["refused"] if r["row"] == 5)
    assert link["reason"].startswith("not_allowed: the carer is not registered")
    assert again["registered"] == 4 and again["refused_rows"] == 6


async def test_a_possible_duplicate_is_refused_until_registered_anyway(
    start_service, nats_url, tmp_path
):
    intake = await start_service(("intake", build))
    twin = "C-9,Mei,,family_carer,female,1962,+852 9123 4567,,,,,,,"
    path = people_csv(tmp_path, [GOOD[0].replace(",C-2,parent", ",,"), twin])
    code, out, _ = await carenet_import(path, nats_url, "--json")
    assert code == 1
    outcome = json.loads(out)
    assert refused(outcome) == {(3, "external_id")}
    assert "may already be registered" in outcome["refused"][0]["reason"]
    assert len((await intake_rows(intake))["people"]) == 1
    code, out, err = await carenet_import(path, nats_url, "--json", "--register-anyway")
    assert code == 0, err
    assert json.loads(out)["refused"] == []
    assert len((await intake_rows(intake))["people"]) == 2


async def test_a_dry_run_checks_every_row_and_sends_nothing(start_service, nats_url, tmp_path):
    intake = await start_service(("intake", build))
    path = people_csv(tmp_path, GOOD + BAD)
    code, out, err = await carenet_import(path, nats_url, "--dry-run", "--json")
    assert code == 1, err
    outcome = json.loads(out)
    assert outcome["dry_run"] and outcome["rows"] == 9
    # What only intake can judge (C-4 is not a family carer) is left to the real run.
    assert refused(outcome) == {
        (6, "birth_year"),
        (7, "roles"),
        (8, "external_id"),
        (9, "consent_service"),
        (10, "carer_of"),
    }
    assert await intake_rows(intake) == {"people": [], "links": [], "consents": [], "outbox": 0}
    # Nor does it need NATS at all.
    code, out, _ = await carenet_import(path, "nats://127.0.0.1:1", "--dry-run")
    assert code == 1 and "9 rows, 4 fit to import, 5 refused (dry run: nothing sent)" in out


async def test_a_file_with_a_wrong_header_is_not_imported(start_service, nats_url, tmp_path):
    intake = await start_service(("intake", build))
    path = tmp_path / "people.csv"
    path.write_text("id,name\nC-1,Ah Ming\n", encoding="utf-8")
    code, _, err = await carenet_import(path, nats_url)
    assert code == 2
    assert "lacks external_id, preferred_name, roles" in err and "unknown columns id, name" in err
    assert (await intake_rows(intake))["people"] == []
