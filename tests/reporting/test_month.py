"""A realistic October through the real services: every figure against the test's own count."""

from __future__ import annotations

from tests.reporting import expected
from tests.reporting.agency import Agency
from tests.reporting.conftest import HAS_VOLUNTEERS, settled, summary
from tests.reporting.scenario import october

CENTRE = {"likang", "nanyuan", "jinsha", "longjin"}
EVERY_SITE = {"hq", "icmhc", "clubhouse", "si-unit", *CENTRE}


async def test_every_figure_of_a_month_matches_what_staff_did(nc, system):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    ledger = agency.ledger
    # The centre includes its three street programmes; each programme stands alone.
    for site, sites in (
        ("likang", CENTRE),
        ("nanyuan", {"nanyuan"}),
        ("jinsha", {"jinsha"}),
        ("longjin", {"longjin"}),
        ("hq", EVERY_SITE),
    ):
        got = await summary(nc, site, "2026-10", exact=True)
        assert got["site"] == site
        assert got["period"] == {"from": "2026-10-01", "to": "2026-10-31"}
        assert (got["mode"], got["suppressed"]) == ("exact", [])
        want = expected.figures(ledger, sites, "2026-10-01", "2026-10-31")
        assert list(got["figures"]) == list(want)
        for name in want:
            assert got["figures"][name] == want[name], (site, name)
    # The headline numbers, spelt out for the reader.
    centre = (await summary(nc, "likang", "2026-10", exact=True))["figures"]
    assert centre["cases_opened"]["by"]["kind"] == {"new": 15, "reactivated": 1}
    assert centre["cases_active_end"]["total"] == 14  # the transferred case still counts once
    assert centre["attendances"]["by"]["type"]["support_group"] == 13  # corrected record only
    assert centre["outcomes"]["brs"]["n_paired"] == 7  # withdrawn consent and no post left out
    assert centre["goals_met"] == {"total": 7, "by": {}}  # 6 here, 1 at Nanyuan; not dropped


async def test_targets_from_the_sites_file_are_pro_rated_to_the_period(nc, system):
    agency = Agency(nc)
    await october(agency, volunteers=False)
    await settled(nc, system)
    got = await summary(nc, "likang", "2026-10", exact=True)
    # The demo file gives Likang 120 new cases and 300 sessions a year; October has 31 days.
    cases = got["achievement"]["figures"]["cases_opened"]
    assert cases == {
        "yearly_target": 120,
        "target_for_period": 10.2,
        "actual": 16,
        "pct_of_target": round(16 / (120 * 31 / 365) * 100, 1),
    }
    sessions = got["achievement"]["figures"]["sessions_held"]
    assert sessions["actual"] == 8 and sessions["target_for_period"] == 25.5
    year = await summary(nc, "likang", "2026", exact=True)
    assert year["achievement"]["figures"]["cases_opened"]["target_for_period"] == 120
    # A street programme without targets of its own has none to show.
    assert "achievement" not in await summary(nc, "jinsha", "2026-10", exact=True)


async def test_late_entries_land_in_their_own_period_and_ranges_add_up(nc, system):
    agency = Agency(nc)
    await october(agency, volunteers=HAS_VOLUNTEERS)
    await settled(nc, system)
    september = await summary(nc, "likang", "2026-09", exact=True)
    want = expected.figures(agency.ledger, CENTRE, "2026-09-01", "2026-09-30")
    assert september["figures"] == want
    assert september["figures"]["referrals_received"]["by"]["source"]["family"] == 1
    assert september["figures"]["people_registered"]["total"] == 1
    if HAS_VOLUNTEERS:
        assert september["figures"]["volunteer_hours"]["total"] == 0.5
    for period, start, end in (
        ("2026-Q4", "2026-10-01", "2026-12-31"),
        ("2026", "2026-01-01", "2026-12-31"),
        ({"from": "2026-09-15", "to": "2026-10-15"}, "2026-09-15", "2026-10-15"),
    ):
        got = await summary(nc, "likang", period, exact=True)
        assert got["period"] == {"from": start, "to": end}
        assert got["figures"] == expected.figures(agency.ledger, CENTRE, start, end), period
