"""Outcome pairing: each consenting person's first baseline with their last post or follow-up
score dated in the period, at the site asked for; means to 0.01, pct_improved to 0.1, improved
meaning the instrument's better direction by at least its minimal change."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from services.reporting.domain import HeldSession, Pair, Period, outcome_stats, pairs, what_works
from tests.unit.reporting.builders import BRS, K6, person, score

OCTOBER = Period(date(2026, 10, 1), date(2026, 10, 31))


def test_the_first_baseline_pairs_with_the_last_later_score_in_the_period():
    who = person()
    first = score(who, "baseline", 2.5, date(2026, 9, 1))
    second = score(who, "baseline", 3.0, date(2026, 9, 20))
    post = score(who, "post", 3.2, date(2026, 10, 5))
    follow_up = score(who, "follow_up", 3.9, date(2026, 10, 25))
    [pair] = pairs([follow_up, second, post, first], OCTOBER, None, {who})
    assert pair.baseline == first
    assert pair.latest == follow_up


def test_of_two_later_scores_on_one_day_the_one_recorded_last_counts():
    who = person()
    baseline = score(who, "baseline", 3, date(2026, 9, 1))
    early = score(who, "post", 3.5, date(2026, 10, 5))
    corrected = score(who, "post", 4, date(2026, 10, 5), later_by=5)
    [pair] = pairs([corrected, baseline, early], OCTOBER, None, {who})
    assert pair.latest == corrected


def test_a_later_score_outside_the_period_does_not_pair():
    who = person()
    baseline = score(who, "baseline", 3, date(2026, 9, 1))
    november = score(who, "post", 4, date(2026, 11, 1))
    september = score(who, "post", 4, date(2026, 9, 30))
    assert pairs([baseline, november, september], OCTOBER, None, {who}) == []


def test_a_person_without_a_baseline_is_not_paired():
    who = person()
    assert pairs([score(who, "post", 4, date(2026, 10, 5))], OCTOBER, None, {who}) == []


def test_a_later_score_dated_before_the_baseline_does_not_pair():
    who = person()
    baseline = score(who, "baseline", 3, date(2026, 10, 20))
    earlier = score(who, "post", 4, date(2026, 10, 10))
    assert pairs([baseline, earlier], OCTOBER, None, {who}) == []


def test_a_later_score_on_the_baseline_day_pairs():
    who = person()
    baseline = score(who, "baseline", 3, date(2026, 10, 10))
    same_day = score(who, "post", 4, date(2026, 10, 10), later_by=30)
    [pair] = pairs([baseline, same_day], OCTOBER, None, {who})
    assert pair.latest == same_day


def test_only_people_whose_outcome_consent_is_given_are_counted():
    given, withdrawn = person(), person()
    scores = [
        score(given, "baseline", 3, date(2026, 9, 1)),
        score(given, "post", 4, date(2026, 10, 5)),
        score(withdrawn, "baseline", 3, date(2026, 9, 1)),
        score(withdrawn, "post", 4, date(2026, 10, 5)),
    ]
    assert [p.person_id for p in pairs(scores, OCTOBER, None, {given})] == [given]


def test_a_person_counts_at_the_site_of_their_later_score():
    who = person()
    baseline = score(who, "baseline", 3, date(2026, 9, 1), site="likang")
    latest = score(who, "post", 4, date(2026, 10, 5), site="nanyuan")
    scores = [baseline, latest]
    assert pairs(scores, OCTOBER, {"likang"}, {who}) == []
    [pair] = pairs(scores, OCTOBER, {"nanyuan"}, {who})
    assert pair.site == "nanyuan"
    assert pairs(scores, OCTOBER, None, {who}) == [pair]


def _pair(instrument_baseline: Decimal, latest: Decimal) -> Pair:
    who = person()
    return Pair(
        who,
        "likang",
        score(who, "baseline", instrument_baseline, date(2026, 9, 1)),
        score(who, "post", latest, date(2026, 10, 5)),
    )


def test_improvement_is_the_better_direction_by_at_least_the_minimal_change():
    base = Decimal("3.0")
    up_enough = _pair(base, base + BRS.minimal_change)
    up_too_little = _pair(base, base + BRS.minimal_change - Decimal("0.01"))
    down = _pair(base, base - BRS.minimal_change)
    stats = outcome_stats(BRS, [up_enough, up_too_little, down])
    assert stats["pct_improved"] == round(100 / 3, 1)


def test_for_a_lower_is_better_instrument_a_fall_is_the_improvement():
    base = Decimal(15)
    fell = _pair(base, base - K6.minimal_change)
    rose = _pair(base, base + K6.minimal_change)
    stats = outcome_stats(K6, [fell, rose])
    assert stats["pct_improved"] == 50.0
    assert stats["mean_change"] == 0.0


def test_means_are_to_two_places_halves_up():
    found = [
        _pair(Decimal("1.00"), Decimal("2.00")),
        _pair(Decimal("1.01"), Decimal("2.00")),
    ]
    stats = outcome_stats(BRS, found)
    # 2.01 / 2 = 1.005 and (4.00 - 2.01) / 2 = 0.995: both halves, both rounded up.
    assert stats["mean_baseline"] == 1.01
    assert stats["mean_latest"] == 2.0
    assert stats["mean_change"] == 1.0
    assert stats["n_paired"] == 2


def test_pct_improved_is_to_one_place_halves_up():
    improved = _pair(Decimal(1), Decimal(1) + BRS.minimal_change)
    unchanged = [_pair(Decimal(1), Decimal(1)) for _ in range(15)]
    # One of sixteen is 6.25 %.
    assert outcome_stats(BRS, [improved, *unchanged])["pct_improved"] == 6.3


def test_no_pairs_give_no_means():
    stats = outcome_stats(BRS, [])
    assert stats["n_paired"] == 0
    assert [stats[k] for k in ("mean_baseline", "mean_latest", "mean_change")] == [None] * 3
    assert stats["pct_improved"] is None


def test_what_works_counts_sessions_between_baseline_and_later_score_both_days_included():
    on_baseline, on_latest, before, after = person(), person(), person(), person()
    found = [
        Pair(who, p.site, p.baseline, p.latest)
        for who, p in zip(
            (on_baseline, on_latest, before, after),
            [_pair(Decimal(3), Decimal(4)) for _ in range(4)],
            strict=True,
        )
    ]
    baseline_day, latest_day = found[0].baseline.on, found[0].latest.on
    sessions = [
        HeldSession(baseline_day, "support_group", ("peer_led",), [on_baseline]),
        HeldSession(latest_day, "support_group", (), [on_latest]),
        HeldSession(baseline_day - timedelta(days=1), "support_group", ("peer_led",), [before]),
        HeldSession(latest_day + timedelta(days=1), "support_group", ("peer_led",), [after]),
    ]
    works = what_works(BRS, found, sessions, ["support_group"], ["peer_led"])
    group = works["programme_type"]["support_group"]
    assert group["attended"]["n_paired"] == 2
    assert group["not_attended"]["n_paired"] == 2
    assert works["tag"]["peer_led"]["attended"]["n_paired"] == 1
    assert works["tag"]["peer_led"]["not_attended"]["n_paired"] == 3


def test_what_works_adds_a_programme_type_or_tag_seen_only_in_attended_sessions():
    pair = _pair(Decimal(3), Decimal(4))
    session = HeldSession(pair.latest.on, "house_meeting", ("new_tag",), [pair.person_id])
    works = what_works(BRS, [pair], [session], ["support_group"], [])
    assert works["programme_type"]["house_meeting"]["attended"]["n_paired"] == 1
    assert works["programme_type"]["support_group"]["not_attended"]["n_paired"] == 1
    assert works["tag"]["new_tag"]["attended"]["n_paired"] == 1


def test_what_works_lists_every_programme_type_and_tag_even_unattended():
    found = [_pair(Decimal(3), Decimal(4))]
    works = what_works(BRS, found, [], ["house_meeting", "support_group"], ["b_tag", "a_tag"])
    assert list(works["programme_type"]) == ["house_meeting", "support_group"]
    assert list(works["tag"]) == ["a_tag", "b_tag"]
    assert works["tag"]["a_tag"]["not_attended"]["n_paired"] == 1
