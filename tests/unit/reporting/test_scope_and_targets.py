"""Whom a figure covers (a parent includes its children; ``*`` every site, and only from an
instance serving every site; exact figures for one site only) and targets (yearly, per site,
a parent adding its children's, pro-rated to the period's days)."""

from __future__ import annotations

import calendar
from datetime import date

import pytest

from services.reporting.domain import Period, Reporting, achievement, parse_period, site_targets
from shared.kit.contracts.replies import CommandError
from tests.unit.reporting.builders import INSTRUMENTS, organisation, site

AGENCY = organisation(
    site("hq"),
    site("likang", "hq", targets={"cases_opened": 120, "sessions_held": 300}),
    site("likang-east", "likang", targets={"cases_opened": 30}),
    site("nanyuan", "hq"),
)


def reporting(served: tuple[str, ...] | None = None) -> Reporting:
    return Reporting(organisation=AGENCY, instruments=INSTRUMENTS, served=served)


def test_a_parent_site_covers_its_children():
    assert sorted(reporting().sites_of("likang")) == ["likang", "likang-east"]
    assert reporting().sites_of("nanyuan") == ["nanyuan"]


def test_every_site_is_asked_for_with_a_star():
    assert reporting().sites_of("*") is None


def test_an_unknown_site_is_not_found():
    with pytest.raises(CommandError) as refused:
        reporting().sites_of("nowhere")
    assert refused.value.code == "not_found"


def test_an_instance_serving_some_sites_refuses_every_site_and_the_others():
    some = reporting(served=("likang", "likang-east"))
    assert sorted(some.sites_of("likang")) == ["likang", "likang-east"]
    for asked in ("*", "nanyuan", "hq"):
        with pytest.raises(CommandError) as refused:
            some.sites_of(asked)
        assert refused.value.code == "not_allowed"


def test_exact_figures_are_for_one_site_only_and_de_identified_is_the_default():
    assert reporting().mode("likang", exact=True) == "exact"
    assert reporting().mode("likang", exact=False) == "deidentified"
    assert reporting().mode("*", exact=False) == "deidentified"
    with pytest.raises(CommandError) as refused:
        reporting().mode("*", exact=True)
    assert refused.value.code == "not_allowed"


def test_a_parent_adds_its_childrens_targets():
    targets = site_targets(AGENCY.sites, ["likang", "likang-east"])
    assert targets == {"cases_opened": 150.0, "sessions_held": 300.0}
    assert site_targets(AGENCY.sites, ["nanyuan"]) == {}


@pytest.mark.parametrize("bad", ["ten", -1, True, [1]])
def test_a_target_that_is_not_a_number_of_at_least_zero_is_refused(bad):
    sites = organisation(site("hq"), site("odd", "hq", targets={"cases_opened": bad})).sites
    with pytest.raises(ValueError, match="odd"):
        site_targets(sites, ["odd"])


def test_targets_that_are_not_a_table_are_refused():
    sites = organisation(site("hq"), site("odd", "hq", targets=12)).sites
    with pytest.raises(ValueError, match="targets must be a table"):
        site_targets(sites, ["odd"])


def test_a_yearly_target_is_pro_rated_to_the_periods_days():
    october = parse_period("2026-10")
    line = achievement({"cases_opened": 120}, {"cases_opened": {"total": 16}}, october)
    # 120 × 31 / 365 = 10.19…, to 0.1: 10.2; 16 of that is 156.97…%, to 0.1.
    share = 120 * 31 / 365
    assert line["cases_opened"] == {
        "yearly_target": 120,
        "target_for_period": round(share, 1),
        "actual": 16,
        "pct_of_target": round(16 * 100 / share, 1),
    }


def test_a_year_gives_the_whole_target():
    for year in (2026, 2028):
        period = Period(date(year, 1, 1), date(year, 12, 31))
        assert calendar.isleap(year) == (period.days == 366)
        line = achievement({"sessions_held": 300}, {"sessions_held": {"total": 150}}, period)
        assert line["sessions_held"]["target_for_period"] == 300.0
        assert line["sessions_held"]["pct_of_target"] == 50.0


def test_a_hidden_figure_has_no_percentage_of_its_target():
    line = achievement(
        {"cases_opened": 120}, {"cases_opened": {"total": None}}, parse_period("2026")
    )
    assert line["cases_opened"]["actual"] is None
    assert line["cases_opened"]["pct_of_target"] is None


def test_a_zero_target_has_no_percentage():
    line = achievement({"cases_opened": 0}, {"cases_opened": {"total": 3}}, parse_period("2026"))
    assert line["cases_opened"]["target_for_period"] == 0.0
    assert line["cases_opened"]["pct_of_target"] is None


def test_targets_are_listed_by_figure_name():
    lines = achievement({"sessions_held": 1, "cases_opened": 1}, {}, parse_period("2026"))
    assert list(lines) == ["cases_opened", "sessions_held"]
    assert lines["cases_opened"]["actual"] is None
