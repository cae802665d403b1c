"""What a hub and a site are: their nats-server settings and the users on them.

- ``single`` (plain ``carenet up``): one server for everything, as before.
- ``hub`` (head office): JetStream domain ``hub``, a leaf-node listener for the sites
  (``no_advertise``: a site must reach the hub only through the address it was given), one leaf
  user per site that runs its own servers, and reporting for every site it sees.
- ``site``: JetStream domain = the site's code, a leaf-node remote to the hub when one is given,
  and all four services for the site and the sites below it that have no servers of their own.

``deploy/nats/hub.conf`` and ``deploy/nats/site.conf`` are the same settings for operators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shared.agency.sites import Organisation
from shared.kit.bus.hub import HUB_DOMAIN
from shared.local.nats_users import NatsUser, leaf_permissions, leaf_user_name, new_password

Role = Literal["single", "hub", "site"]
HUB_SERVICES = ("reporting",)


@dataclass(frozen=True)
class Deployment:
    """One ``carenet up``'s place in the organisation."""

    role: Role
    site: str | None = None
    """The site a ``site`` role runs (its JetStream domain)."""

    def services(self, available: Sequence[str]) -> list[str]:
        if self.role == "hub":
            return [name for name in available if name in HUB_SERVICES]
        return list(available)

    def sites(self, organisation: Organisation, spec: str) -> str:
        """``CARENET_SITES`` for the services: ``spec`` for a single machine, the deployment's
        own sites for a site, and for the hub every site whose events it gets."""
        if self.role == "site":
            assert self.site is not None
            return ",".join(organisation.served_by_deployment(self.site))
        if self.role == "hub":
            seen = organisation.seen_at_head_office()
            return "*" if seen == organisation.codes() else ",".join(seen)
        return spec

    def domain(self) -> str | None:
        if self.role == "hub":
            return HUB_DOMAIN
        return self.site if self.role == "site" else None


def leaf_users(organisation: Organisation, passwords: Mapping[str, str]) -> list[NatsUser]:
    """The hub's leaf users, one per site with its own deployment."""
    users = []
    for site in organisation.deployments():
        name = leaf_user_name(site.code)
        users.append(
            NatsUser(
                name,
                passwords.get(name) or new_password(),
                leaf_permissions(
                    site.code, site.share, organisation.served_by_deployment(site.code)
                ),
            )
        )
    return users


def server_settings(
    deployment: Deployment,
    *,
    leaf_listen: str | None = None,
    hub_url: str | None = None,
) -> str:
    """The nats-server settings of a role besides its users (``authorization`` is rendered by
    ``shared.local.nats_users.render``)."""
    lines: list[str] = []
    domain = deployment.domain()
    if domain is not None:
        lines.append(f"jetstream {{ domain: {json.dumps(domain)} }}")
    if deployment.role == "hub" and leaf_listen is not None:
        lines.append(f"leafnodes {{ listen: {json.dumps(leaf_listen)}, no_advertise: true }}")
    if deployment.role == "site" and hub_url:
        lines.append("leafnodes {")
        lines.append(f"  remotes: [ {{ url: {json.dumps(hub_url)} }} ]")
        # A cut link is noticed within seconds and retried every second.
        lines.append("  reconnect: 1s")
        lines.append("}")
    return "\n".join(lines) + ("\n" if lines else "")
