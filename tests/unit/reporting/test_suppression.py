"""De-identification's primary rule: a count of 1–4 people, a mean over fewer than 5 and hours of
fewer than 5 people are hidden, each hidden number's path is listed; zeros and counts of 5 and
more are shown unless needed to protect a hidden one (test_suppression_properties.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.reporting import domain
from services.reporting.domain import SMALL, HeldSession, Pair, outcome_stats, what_works
from services.reporting.suppression import deidentify, deidentify_outcomes
from tests.unit.reporting.builders import BRS, person, score


def referrals(**by_source: int) -> dict[str, Any]:
    return {
        "referrals_received": {
            "total": sum(by_source.values()),
            "by": {"source": dict(by_source)},
        }
    }


def paired(n: int) -> list[Pair]:
    found = []
    for _ in range(n):
        who = person()
        baseline = score(who, "baseline", 3, date(2026, 10, 1))
        latest = score(who, "post", 4, date(2026, 10, 20))
        found.append(Pair(who, "likang", baseline, latest))
    return found


def paired_stats(n: int) -> dict[str, Any]:
    return outcome_stats(BRS, paired(n))


def test_counts_of_one_to_four_are_hidden_and_their_paths_listed():
    figures = referrals(hospital=1, self=4, ngo=SMALL)
    hidden = deidentify(figures)
    by_source = figures["referrals_received"]["by"]["source"]
    assert by_source["hospital"] is None and by_source["self"] is None
    assert sorted(hidden) == [
        "referrals_received.by.source.hospital",
        "referrals_received.by.source.self",
    ]


def test_a_zero_and_a_count_of_five_or_more_are_shown():
    figures = referrals(hospital=0, self=SMALL, ngo=SMALL + 7)
    assert deidentify(figures) == []
    assert figures["referrals_received"]["by"]["source"] == {
        "hospital": 0,
        "self": SMALL,
        "ngo": SMALL + 7,
    }
    assert figures["referrals_received"]["total"] == 2 * SMALL + 7


def test_a_small_total_is_hidden_like_any_other_count():
    figures = referrals(hospital=2, self=1)
    hidden = deidentify(figures)
    assert figures["referrals_received"]["total"] is None
    assert "referrals_received.total" in hidden


def test_hours_of_five_people_are_shown_and_of_fewer_hidden():
    figures = {
        "volunteer_hours": {"total": 9.5, "by": {"team": {"peer_supporters": 3.5, "street": 6.0}}}
    }
    people = {
        "volunteer_hours.total": 9,
        "volunteer_hours.by.team.peer_supporters": SMALL,
        "volunteer_hours.by.team.street": SMALL - 1,
    }
    assert deidentify(figures, people) == [
        "volunteer_hours.by.team.peer_supporters",  # or the street team's could be worked out
        "volunteer_hours.by.team.street",
    ]
    assert figures["volunteer_hours"]["total"] == 9.5
    shown = {"volunteer_hours": {"total": 9.5, "by": {"team": {"peer_supporters": 9.5}}}}
    assert deidentify(shown, {"volunteer_hours.total": SMALL}) == []


def test_a_yes_or_no_is_not_a_count():
    figures = {"flags": {"published": True}}
    assert deidentify(figures) == []
    assert figures["flags"]["published"] is True


def test_every_statistic_over_fewer_than_five_people_is_hidden():
    figures = {"outcomes": {"brs": paired_stats(SMALL - 1)}}
    hidden = deidentify(figures)
    stats = figures["outcomes"]["brs"]
    assert all(value is None for value in stats.values())
    assert sorted(hidden) == sorted(f"outcomes.brs.{key}" for key in stats)


def test_statistics_over_five_people_are_shown():
    figures = {"outcomes": {"brs": paired_stats(SMALL)}}
    shown = dict(figures["outcomes"]["brs"])
    assert deidentify(figures) == []
    assert figures["outcomes"]["brs"] == shown
    assert shown["n_paired"] == SMALL


def test_no_one_paired_hides_nothing_and_lists_nothing():
    figures = {"outcomes": {"brs": paired_stats(0)}}
    assert deidentify(figures) == []
    assert figures["outcomes"]["brs"]["n_paired"] == 0


def test_what_works_hides_the_side_with_fewer_than_five_people():
    found = paired(SMALL + 2)
    # The first five went to a support group session; the other two did not.
    session = HeldSession(
        date(2026, 10, 10), "support_group", ("trauma_informed",), [p.person_id for p in found[:5]]
    )
    works = what_works(BRS, found, [session], ["support_group"], ["trauma_informed"])
    hidden = domain.deidentify(works)
    split = works["tag"]["trauma_informed"]
    assert split["attended"]["n_paired"] == SMALL
    assert all(value is None for value in split["not_attended"].values())
    assert "tag.trauma_informed.not_attended.n_paired" in hidden
    assert "tag.trauma_informed.attended.n_paired" not in hidden


def test_de_identified_what_works_hides_the_other_side_too_as_they_add_up_to_the_overall():
    found = paired(SMALL + 2)
    session = HeldSession(
        date(2026, 10, 10), "support_group", ("trauma_informed",), [p.person_id for p in found[:5]]
    )
    works = what_works(BRS, found, [session], ["support_group"], ["trauma_informed"])
    overall = outcome_stats(BRS, found)
    hidden = deidentify_outcomes(overall, works)
    split = works["tag"]["trauma_informed"]
    assert all(value is None for value in split["attended"].values())  # 7 - 5 = 2 otherwise
    assert all(value is None for value in split["not_attended"].values())
    assert "what_works.tag.trauma_informed.attended.n_paired" in hidden
    assert "what_works.tag.trauma_informed.attended.mean_change" in hidden
    assert overall["n_paired"] == SMALL + 2
