"""A hub nats-server and site nats-servers joined by leaf links, configured as ``carenet up
--role hub|site`` configures them, for tests that need the servers and not the services."""

from __future__ import annotations

from pathlib import Path

from shared.agency.sites import Organisation
from shared.local.devservers import LOOPBACK, NatsServer, free_port
from shared.local.nats_users import ADMIN, NatsUser, render, standard_users
from shared.local.roles import Deployment, leaf_users, server_settings


def _admin_url(users: list[NatsUser], server: NatsServer) -> str:
    return next(u for u in users if u.name == ADMIN).url(server.url)


class LeafServers:
    """The hub's server and each site's, on demand (a site may also join another hub, given
    its leaf URL); ``stop`` stops every one started."""

    def __init__(self, root: Path, organisation: Organisation) -> None:
        self.root = root
        self.organisation = organisation
        self.leaf_port = free_port()
        self.leaf_users = leaf_users(organisation, {})
        self.hub = NatsServer(
            root / "hub", server_name="carenet-hub", config_file=root / "hub.conf"
        )
        self.hub_admin = ""
        self.sites: dict[str, NatsServer] = {}
        self.site_admin: dict[str, str] = {}

    def start_hub(self) -> str:
        """The hub's admin URL."""
        users = standard_users(["reporting"])
        settings = server_settings(Deployment("hub"), leaf_listen=f"{LOOPBACK}:{self.leaf_port}")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "hub.conf").write_text(settings + render([*users, *self.leaf_users]))
        self.hub.start()
        self.hub_admin = _admin_url(users, self.hub)
        return self.hub_admin

    def leaf_url(self, site: str) -> str:
        """What ``leaf_urls`` of the hub's up.json gives that site."""
        user = next(u for u in self.leaf_users if u.name == f"leaf_{site}")
        return user.url(f"nats-leaf://{LOOPBACK}:{self.leaf_port}")

    def start_site(self, site: str, hub_url: str | None = None) -> str:
        """Site ``site``'s server joined to the hub (or to ``hub_url``); its admin URL."""
        users = standard_users()
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / f"{site}.conf"
        settings = server_settings(Deployment("site", site), hub_url=hub_url or self.leaf_url(site))
        config.write_text(settings + render(users))
        server = NatsServer(self.root / site, server_name=f"carenet-{site}", config_file=config)
        server.start()
        self.sites[site] = server
        self.site_admin[site] = _admin_url(users, server)
        return self.site_admin[site]

    def stop(self) -> None:
        for server in [*self.sites.values(), self.hub]:
            server.stop()
