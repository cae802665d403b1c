"""De-identified figures: counts of 1–4 and means over fewer than 5 people are not shown, nor
anything that would let them be worked out (a parent's sites' figures in the same reply too)."""

from __future__ import annotations

from typing import Any

from tests.reporting import expected
from tests.reporting.agency import Agency
from tests.reporting.conftest import HAS_VOLUNTEERS, ask, settled, summary
from tests.reporting.scenario import october
from tests.reporting.test_month import CENTRE, EVERY_SITE
from tests.unit.reporting.reader import assert_nothing_recoverable, numbers


def primary(node: dict[str, Any], path: str = "") -> list[str]:
    """The numbers docs/figures.md hides for their own sake: counts of 1–4 and every statistic
    over fewer than 5 people (hours need who contributed, which the ledger does not say)."""
    hidden = []
    for key, value in node.items():
        here = f"{path}.{key}" if path else key
        if isinstance(value, dict) and "n_paired" in value:
            if 0 < value["n_paired"] < 5:
                hidden += [f"{here}.{stat}" for stat in value]
        elif isinstance(value, dict):
            hidden += primary(value, here)
        elif type(value) is int and 1 <= value <= 4:
            hidden.append(here)
    return hidden


def assert_deidentified(
    want: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]], suppressed: list[str]
) -> None:
    """Shown numbers are the exact ones, small ones are hidden, and no hidden one can be
    worked out from the rest."""
    exact, shown = numbers(want), numbers(got)
    assert set(exact) == set(shown)
    for path, value in shown.items():
        if value is not None:
            assert value == exact[path], path
    for prefix, figures in want.items():
        at = f"{prefix}." if prefix else ""
        assert {at + p for p in primary(figures)} <= set(suppressed)
    assert_nothing_recoverable(want, got, suppressed)


async def test_all_sites_and_exports_are_deidentified_with_the_paths_listed(nc, system):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    for site, sites, exact in (("*", EVERY_SITE, False), ("likang", CENTRE, False)):
        got = await summary(nc, site, "2026-10", exact=exact)
        assert got["mode"] == "deidentified"
        want = expected.figures(agency.ledger, sites, "2026-10-01", "2026-10-31")
        assert_deidentified({"": want}, {"": got["figures"]}, got["suppressed"])
    figures = got["figures"]
    assert figures["referrals_received"]["by"]["source"]["self"] is None
    assert "referrals_received.by.source.self" in got["suppressed"]
    assert figures["referrals_received"]["by"]["source"]["residents_committee"] is None  # 4
    assert figures["referrals_received"]["total"] == 11  # a total is hidden only as last resort
    assert figures["referrals_received"]["by"]["source"]["ngo"] == 0  # zero identifies no one
    assert figures["outcomes"]["k6"] == dict.fromkeys(figures["outcomes"]["k6"])  # 2 people
    assert figures["outcomes"]["brs"]["n_paired"] == 7
    assert figures["goals_met"]["total"] == 7
    street = await summary(nc, "nanyuan", "2026-10", exact=False)
    assert street["figures"]["goals_met"]["total"] is None  # one goal met: suppressed
    assert "goals_met.total" in street["suppressed"]


async def test_a_centre_and_its_street_programmes_in_one_reply_are_suppressed_together(nc, system):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    reply = await ask(nc, "summary", "likang", period="2026-10", by_site=True)
    assert reply.ok and reply.result is not None, reply.error
    got = reply.result
    assert set(got["sites"]) == CENTRE
    want = {"": expected.figures(agency.ledger, CENTRE, "2026-10-01", "2026-10-31")}
    for code in CENTRE:
        want[f"sites.{code}"] = expected.figures(agency.ledger, {code}, "2026-10-01", "2026-10-31")
    shown = {"": got["figures"], **{f"sites.{c}": f for c, f in got["sites"].items()}}
    assert_deidentified(want, shown, got["suppressed"])
    assert any(path.startswith("sites.nanyuan.") for path in got["suppressed"])
    for name, line in got.get("achievement", {}).get("figures", {}).items():
        if got["figures"][name]["total"] is None:  # its share of the target would give it away
            assert line["pct_of_target"] is None
            assert f"achievement.figures.{name}.pct_of_target" in got["suppressed"]
    exact = await ask(nc, "summary", "likang", period="2026-10", exact=True, by_site=True)
    assert exact.ok and exact.result is not None, exact.error
    assert exact.result["suppressed"] == []
    assert exact.result["sites"]["nanyuan"] == want["sites.nanyuan"]


async def test_exact_figures_only_for_one_site(nc, system):
    refused = await ask(nc, "summary", "*", period="2026-10", exact=True)
    assert refused.error is not None and refused.error.code == "not_allowed"
    one = await summary(nc, "nanyuan", "2026-10", exact=True)
    assert one["mode"] == "exact"
    unknown = await ask(nc, "summary", "nowhere", period="2026-10")
    assert unknown.error is not None and unknown.error.code == "not_found"
    bad = await ask(nc, "summary", "likang", period="2026-13")
    assert bad.error is not None and bad.error.code == "validation_error"


async def test_what_works_compares_people_who_attended_with_those_who_did_not(nc, system):
    agency = Agency(nc)
    people = await october(agency, volunteers=False)
    await settled(nc, system)
    reply = await ask(nc, "outcomes", "likang", instrument="brs", period="2026-10", exact=True)
    assert reply.ok, reply.error
    got = reply.result
    assert got is not None
    found = expected.paired(agency.ledger, "brs", CENTRE, "2026-10-01", "2026-10-31")
    assert got["overall"] == expected.stats("brs", found)
    # Who attended a trauma-informed session between their baseline and their later score.
    trauma = {
        person
        for s in agency.ledger.sessions.values()
        if "trauma_informed" in s["tags"] and s["held"] and not s["cancelled"]
        for person in s["present"]
    }
    attended = [f for f in found if f[0] in trauma]
    others = [f for f in found if f[0] not in trauma]
    assert len(attended) == 5 and len(others) == 2  # Carer 5's attendance was corrected away
    split = got["what_works"]["tag"]["trauma_informed"]
    assert split["attended"] == expected.stats("brs", attended)
    assert split["not_attended"] == dict.fromkeys(split["not_attended"])  # two people: hidden
    assert "what_works.tag.trauma_informed.not_attended.n_paired" in got["suppressed"]
    assert got["what_works"]["programme_type"]["support_group"]["attended"]["n_paired"] == 5
    assert people  # the scenario ran


async def test_casework_hours_with_one_person_are_hidden_however_many_contacts(nc, system):
    """Six contacts with one carer: the count of contacts is not a count of people and shows,
    but the hours are one person's and are hidden (they were shown when contacts were taken
    for people)."""
    agency = Agency(nc)
    carer = await agency.register("likang", "Mrs Ho", ["family_carer"], on="2026-10-01")
    await agency.consent("likang", carer, "service", True, on="2026-10-01")
    case = await agency.open_case("likang", carer, on="2026-10-02")
    for day in range(5, 11):
        await agency.contact("likang", case, "home_visit", 60, on=f"2026-10-{day:02d}")
    await settled(nc, system)
    got = await summary(nc, "likang", "2026-10")
    contacts = got["figures"]["case_contacts"]
    assert (contacts["total"], contacts["by"]["mode"]["home_visit"]) == (6, 6)
    assert contacts["hours"] is None and contacts["hours_by"]["mode"]["home_visit"] is None
    assert {"case_contacts.hours", "case_contacts.hours_by.mode.home_visit"} <= set(
        got["suppressed"]
    )
    exact = await summary(nc, "likang", "2026-10", exact=True)
    assert exact["figures"]["case_contacts"]["hours"] == 6.0
