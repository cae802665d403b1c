"""The access table's pure rules: scopes, the roles a request is granted through, what a request
may see, and a peer supporter's own records only; no servers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.commands import found, must_own
from shared.kit.contracts.replies import CommandError
from shared.kit.identity.access import (
    CASEWORK,
    DUTIES,
    FIGURES,
    MANAGERS,
    PUBLISHING,
    Grant,
    Identity,
    allowed,
    granted,
    names_site,
    only_as,
)

ORGANISATION = load_organisation(DEMO_ORGANISATION)
BELOW = ORGANISATION.with_descendants


def caller(*roles: str, sites: tuple[str, ...] = ("likang",), sub: str = "sw-lee") -> Identity:
    return Identity(sub, sub, frozenset(roles), frozenset(sites), "tests")


@pytest.mark.parametrize(
    ("sites", "site", "expected"),
    [
        (("likang",), "likang", True),
        (("likang",), "jinsha", True),  # a child of likang
        (("jinsha",), "likang", False),  # the parent is not the child's
        (("jinsha",), "nanyuan", False),  # nor a sibling
        (("likang",), "icmhc", False),
        (("*",), "icmhc", True),
        (("hq",), "clubhouse", True),
        (("jinsha", "icmhc"), "icmhc", True),
    ],
)
def test_children_scope_is_the_tokens_sites_and_every_site_below_them(sites, site, expected):
    assert allowed(caller("social_worker", sites=sites), CASEWORK, site, BELOW) is expected


def test_own_scope_is_only_a_site_the_token_names():
    manager = caller("centre_manager", sites=("likang",))
    assert allowed(manager, PUBLISHING, "likang", BELOW)
    assert not allowed(manager, PUBLISHING, "jinsha", BELOW)
    assert not allowed(caller("centre_manager", sites=("*",)), PUBLISHING, "likang", BELOW)


def test_all_scope_is_any_site_whatever_the_token_names():
    analyst = caller("analyst", sites=("icmhc",))
    assert allowed(analyst, FIGURES, "likang", BELOW)
    assert allowed(caller("operator", sites=()), PUBLISHING, "si-unit", BELOW)


def test_a_role_outside_the_row_is_refused_at_every_site():
    for role in ("volunteer_coordinator", "peer_supporter", "analyst", "operator"):
        assert not allowed(caller(role, sites=("*",)), CASEWORK, "likang", BELOW)
    assert not allowed(caller("social_worker", sites=("*",)), MANAGERS, "likang", BELOW)
    assert not allowed(caller(sites=("*",)), CASEWORK, "likang", BELOW)  # no roles at all


def test_granted_names_the_roles_that_reach_the_site():
    both = caller("peer_supporter", "volunteer_coordinator", sites=("likang",))
    assert granted(both, DUTIES, "jinsha", BELOW) == {"peer_supporter", "volunteer_coordinator"}
    peer = caller("peer_supporter", "social_worker", sites=("likang",))
    assert granted(peer, DUTIES, "likang", BELOW) == {"peer_supporter"}
    assert only_as(granted(peer, DUTIES, "likang", BELOW), "peer_supporter")
    assert not only_as(granted(both, DUTIES, "likang", BELOW), "peer_supporter")
    assert granted(peer, DUTIES, "icmhc", BELOW) == frozenset()


def test_names_site_is_the_token_naming_the_site_itself():
    assert names_site(caller(sites=("likang",)), "likang")
    assert not names_site(caller(sites=("likang",)), "jinsha")
    assert not names_site(caller(sites=("*",)), "likang")


@dataclass
class Record:
    site: str


def test_found_with_a_set_of_sites_refuses_a_record_kept_elsewhere_as_not_found():
    here = frozenset(BELOW("likang"))
    assert found(Record("jinsha"), "case", "case_id", site=here).site == "jinsha"
    with pytest.raises(CommandError) as refused:
        found(Record("icmhc"), "case", "case_id", site=here)
    assert refused.value.code == "not_found"
    with pytest.raises(CommandError):
        found(Record("likang"), "case", "case_id", site=frozenset(BELOW("jinsha")))


def _grant(identity: Identity, access, site: str) -> Grant:
    return Grant(
        identity,
        frozenset(BELOW(site)),
        granted(identity, access, site, BELOW),
        lambda other: allowed(identity, access, other, BELOW),
    )


def test_a_peer_supporter_acts_on_their_own_duties_only():
    peer = caller("peer_supporter", sub="0b7c1f0e-0000-4000-8000-000000000001")
    grant = _grant(peer, DUTIES, "likang")
    must_own(grant, "peer_supporter", peer.sub, "duties", "assignment_id")
    with pytest.raises(CommandError) as refused:
        must_own(grant, "peer_supporter", "someone-else", "duties", "assignment_id")
    assert refused.value.code == "forbidden"
    coordinator = _grant(caller("peer_supporter", "volunteer_coordinator"), DUTIES, "likang")
    must_own(coordinator, "peer_supporter", "someone-else", "duties", "assignment_id")
    must_own(None, "peer_supporter", "someone-else", "duties", "assignment_id")  # an event's work


def test_grant_sees_the_subjects_site_and_below():
    grant = _grant(caller("social_worker", sites=("*",)), CASEWORK, "likang")
    assert grant.sees("likang") and grant.sees("longjin")
    assert not grant.sees("icmhc") and not grant.sees(None)
    assert grant.reaches("icmhc")  # a * token reaches every site
