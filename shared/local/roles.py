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
from shared.kit.contracts.public import SERVICES
from shared.local.nats_users import (
    ADMIN,
    CLIENT,
    NatsUser,
    client_permissions,
    leaf_permissions,
    leaf_user_name,
    new_password,
    password_variable,
    render,
    service_permissions,
)

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


def _reference(user: str) -> str:
    return f"${password_variable(user)}"


def deploy_users(deployment: Deployment, organisation: Organisation) -> list[NatsUser]:
    """The users of a hub's or a site's nats-server in the compose deployment, every password a
    ``$CARENET_NATS_<USER>_PASSWORD`` reference: one user per service the role runs, named
    after the service (each deployment has its own server, so ``CARENET_NATS_INTAKE_PASSWORD``
    means the same at every site) but held to the sites the deployment serves; ``client``,
    ``admin``, and at a hub one leaf user per site with its own deployment."""
    spec = deployment.sites(organisation, "*")
    sites = None if spec == "*" else sorted(spec.split(","))
    users = [
        NatsUser(service, _reference(service), service_permissions(service, sites))
        for service in deployment.services(SERVICES)
    ]
    users += [
        NatsUser(CLIENT, _reference(CLIENT), client_permissions()),
        NatsUser(ADMIN, _reference(ADMIN), None),
    ]
    if deployment.role == "hub":
        names = [leaf_user_name(site.code) for site in organisation.deployments()]
        users += leaf_users(organisation, {name: _reference(name) for name in names})
    return users


def deploy_users_conf(deployment: Deployment, organisation: Organisation) -> str:
    """``deploy/nats/hub-users.conf``, or a site's ``deploy/nats/site-<site>-users.conf``."""
    if deployment.role == "hub":
        what, target, flags = "the hub (head office)", "hub-users.conf", "--role hub"
    else:
        what = f"site {deployment.site}"
        target = f"site-{deployment.site}-users.conf"
        flags = f"--role site --site {deployment.site}"
    header = f"""\
NATS users of {what} for docker-compose.yml's profile {deployment.role}, included by
deploy/nats/{deployment.role}.conf. GENERATED from the organisation's sites file (CARENET_CONFIG,
default the demo organisation): do not edit; run
  python -m shared.local.nats_users conf {flags} > deploy/nats/{target}
Passwords are not here: nats-server reads each $CARENET_NATS_<USER>_PASSWORD from its
environment; fresh ones: python -m shared.local.nats_users env {flags}"""
    return render(deploy_users(deployment, organisation), header=header)


def deploy_environment(deployment: Deployment, organisation: Organisation) -> list[str]:
    """``.env`` lines for a hub or a site: fresh passwords for every user docker-compose.yml
    names (it requires the single deployment's too, unused there) and the role's settings."""
    names = [*SERVICES, CLIENT, ADMIN]
    users = deploy_users(deployment, organisation)
    names += [user.name for user in users if user.name not in names]
    lines = [f"{password_variable(name)}={new_password()}" for name in names]
    lines.append(f"CARENET_SITES={deployment.sites(organisation, '*')}")
    if deployment.role == "hub":
        for site in organisation.deployments():
            leaf = leaf_user_name(site.code)
            lines.append(
                f"# {site.code}'s CARENET_HUB_LEAF_URL: "
                f"nats-leaf://{leaf}:<{password_variable(leaf)}>@<this host>:7422"
            )
    if deployment.role == "site":
        leaf = leaf_user_name(str(deployment.site))
        lines.append(f"CARENET_SITE={deployment.site}")
        lines.append(f"# From head office: nats-leaf://{leaf}:<password>@<hub host>:7422")
        lines.append("CARENET_HUB_LEAF_URL=")
    return lines
