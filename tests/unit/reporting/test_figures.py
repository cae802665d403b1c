"""The figures' arithmetic: breakdowns over a closed list give every code (zeros included,
unexpected codes after), a person counts once in a total and once in each of their roles,
hours are to 0.1 h with halves up, and counts stay ints while hours are floats."""

from __future__ import annotations

from typing import get_args

from services.reporting import figures
from services.reporting.domain import hours
from shared.kit.contracts.intake import ContactMode, Role


def test_a_closed_list_gives_every_code_in_its_order_with_zeros():
    by = figures.by_code(("hospital", "self", "ngo"), {"self": 3})
    assert by == {"hospital": 0, "self": 3, "ngo": 0}
    assert list(by) == ["hospital", "self", "ngo"]


def test_a_code_outside_the_list_is_shown_after_it_in_order():
    by = figures.by_code(("hospital",), {"zz": 1, "hospital": 2, "aa": 4})
    assert list(by) == ["hospital", "aa", "zz"]


def test_an_open_list_gives_only_the_codes_seen():
    assert figures.by_code((), {"peer_supporters": 2}) == {"peer_supporters": 2}


def test_a_total_is_the_sum_of_its_breakdown():
    figure = figures.total(("a", "b"), {"a": 2, "b": 5}, "source")
    assert figure == {"total": 7, "by": {"source": {"a": 2, "b": 5}}}


def test_a_person_counts_once_in_the_total_and_once_in_each_role():
    roles = [["family_carer", "person_in_recovery"], ["family_carer", "family_carer"]]
    figure = figures.people_registered(roles)
    assert figure["total"] == 2
    assert figure["by"]["role"]["family_carer"] == 2
    assert figure["by"]["role"]["person_in_recovery"] == 1
    assert list(figure["by"]["role"]) == list(get_args(Role))


def test_cases_opened_are_counted_by_role_and_by_kind():
    opened = [(["family_carer"], "new"), (["family_carer"], "reactivated"), ([], "new")]
    figure = figures.cases_opened(opened)
    assert figure["total"] == 3
    assert figure["by"]["kind"] == {"new": 2, "reactivated": 1}
    assert figure["by"]["role"]["family_carer"] == 2


def test_hours_are_to_a_tenth_halves_up():
    assert hours(3) == 0.1  # 0.05 h
    assert hours(2) == 0.0  # 0.033 h
    assert hours(90) == 1.5
    assert hours(0) == 0.0


def test_contact_hours_round_the_sum_and_each_mode_on_its_own():
    counts = {"phone": 2, "home_visit": 1}
    minutes = {"phone": 3, "home_visit": 3}
    figure = figures.contacts(counts, minutes, get_args(ContactMode))
    assert figure["total"] == 3
    assert figure["hours"] == hours(6)
    assert figure["hours_by"]["mode"]["phone"] == hours(3)
    assert all(isinstance(v, float) for v in figure["hours_by"]["mode"].values())
    assert all(isinstance(v, int) for v in figure["by"]["mode"].values())


def test_an_active_volunteer_counts_once_however_many_teams():
    worked = [("v1", "peer_supporters"), ("v1", "family_volunteer_team"), ("v2", "peer_supporters")]
    figure = figures.volunteers_active(worked)
    assert figure["total"] == 2
    assert figure["by"]["team"] == {"family_volunteer_team": 1, "peer_supporters": 2}


def test_volunteer_hours_are_hours_per_team_and_in_total():
    figure = figures.volunteer_hours({"peer_supporters": 60, "family_volunteer_team": 258})
    assert figure["total"] == hours(318)
    assert figure["by"]["team"] == {"family_volunteer_team": hours(258), "peer_supporters": 1.0}
    assert isinstance(figure["total"], float)


def test_a_service_user_turned_volunteer_counts_once_in_each_team():
    figure = figures.users_turned_volunteers([["a", "b"], ["a", "a"]])
    assert figure == {"total": 2, "by": {"team": {"a": 2, "b": 1}}}


def test_a_figure_without_breakdown_has_an_empty_one():
    assert figures.only_total(4) == {"total": 4, "by": {}}
