"""De-identified figures: counts of 1–4 and means over fewer than 5 people are not shown."""

from __future__ import annotations

from typing import Any

from tests.reporting import expected
from tests.reporting.agency import Agency
from tests.reporting.conftest import HAS_VOLUNTEERS, ask, settled, summary
from tests.reporting.scenario import october
from tests.reporting.test_month import CENTRE, EVERY_SITE


def hide_small(node: dict[str, Any], path: str = "") -> list[str]:
    """The test's own reading of docs/figures.md's rule, applied to expected figures."""
    hidden = []
    for key, value in node.items():
        here = f"{path}.{key}" if path else key
        if isinstance(value, dict) and "n_paired" in value:
            if 0 < value["n_paired"] < 5:
                for stat in value:
                    value[stat] = None
                    hidden.append(f"{here}.{stat}")
        elif isinstance(value, dict):
            hidden += hide_small(value, here)
        elif type(value) is int and 1 <= value <= 4:
            node[key] = None
            hidden.append(here)
    return hidden


async def test_all_sites_and_exports_are_deidentified_with_the_paths_listed(nc, system):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    for site, sites, exact in (("*", EVERY_SITE, False), ("likang", CENTRE, False)):
        got = await summary(nc, site, "2026-10", exact=exact)
        assert got["mode"] == "deidentified"
        want = expected.figures(agency.ledger, sites, "2026-10-01", "2026-10-31")
        hidden = hide_small(want)
        assert got["figures"] == want
        assert sorted(got["suppressed"]) == sorted(hidden)
    figures = got["figures"]
    assert figures["referrals_received"]["by"]["source"]["self"] is None
    assert "referrals_received.by.source.self" in got["suppressed"]
    assert figures["referrals_received"]["by"]["source"]["residents_committee"] is None  # 4
    assert figures["referrals_received"]["total"] == 11  # 5 and more are shown
    assert figures["referrals_received"]["by"]["source"]["ngo"] == 0  # zero identifies no one
    assert figures["outcomes"]["k6"] == dict.fromkeys(figures["outcomes"]["k6"])  # 2 people
    assert figures["outcomes"]["brs"]["n_paired"] == 7
    assert figures["case_contacts"]["hours"] > 0  # hours are amounts, not people
    assert figures["goals_met"]["total"] == 7
    street = await summary(nc, "nanyuan", "2026-10", exact=False)
    assert street["figures"]["goals_met"]["total"] is None  # one goal met: suppressed
    assert "goals_met.total" in street["suppressed"]


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
