"""The NATS users of a carenet deployment and what each may publish and subscribe to.

The one place the permissions are made: ``carenet up`` writes them, with fresh passwords, into
the server config it starts NATS with, and ``deploy/nats/users.conf`` (for docker-compose.yml)
is rendered from here with passwords read from environment variables
(``python -m shared.local.nats_users conf > deploy/nats/users.conf``; a test fails when the
committed file differs). The compose profiles' servers get theirs the same way from the sites
file (``shared.local.roles.deploy_users``): ``conf --role hub > deploy/nats/hub-users.conf``
and ``conf --role site --site likang > deploy/nats/site-likang-users.conf``; ``env`` with the
same flags prints a role's ``.env``. ``docs/nats-users.md`` explains every user.

- One user per service instance (service and site list). It publishes only its own events
  (``evt.<its sites>.<service>.>``), its dead letters (``dlq.<service>.>``) and the requests it
  makes of other services (``ASKS``); it answers requests only through the reply subject of a
  request it received (``allow_responses``); it subscribes only to its own ``cmd.``/``qry.``
  subjects and to ``_INBOX.>``; and it calls only the JetStream API of its own stream, of
  ``DLQ`` (create once, publish) and of its own durable consumers on the streams it reads
  (``READS``).
- ``client``: sends any command or query but intake's own ``receive_transfer`` (only an
  intake instance hands a case, with the person's record, to another site's intake) and reads
  events (core subscriptions, stored
  messages by sequence, and its own consumer named ``client`` on each stream), publishes no
  event and cannot change a stream or anyone else's consumer.
- A reader (``reader_permissions``): what a reporting consumer outside carenet gets.
- ``admin``: everything; for ``carenet reconcile``, ``carenet reporting rebuild`` and
  provisioning. Never given to a service.
- At a hub, one leaf user per site that runs its own servers (``leaf_permissions``): what its
  leaf link may carry in each direction. Only JetStream's sourcing of the streams the site
  shares, the hub's probe of the first of them, and (for a site sharing its events) transfers
  between intakes. Live ``evt.`` traffic never crosses a leaf link.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

from shared.agency.sites import Share
from shared.kit.bus.broker import REPLIES, reply_prefix
from shared.kit.bus.dead_letters import dlq_subject
from shared.kit.bus.hub import HUB_REPLIES, shared_streams, site_api
from shared.kit.bus.streams import DLQ_STREAM, stream_name
from shared.kit.contracts.public import SERVICES

Permissions = dict[str, Any]

READS: dict[str, tuple[str, ...]] = {
    "intake": ("groups", "volunteers"),
    "groups": ("intake",),
    "volunteers": ("intake", "groups"),
    "reporting": ("intake", "groups", "volunteers"),
}
"""Whose events each service consumes (one ``Subscription.to(source)`` each; a test checks
this against the services' definitions)."""


class Ask(NamedTuple):
    """A request a service sends: (kind, service, name), for its own sites or, with
    ``any_site``, for every site."""

    kind: str
    service: str
    name: str
    any_site: bool = False


INTAKE_ONLY: tuple[Ask, ...] = (Ask("cmd", "intake", "receive_transfer", any_site=True),)
"""Requests only an intake instance may send: a case handed over to another site's intake
(carrying the person's record). No other user may publish them, ``client`` included."""

ASKS: dict[str, tuple[Ask, ...]] = {
    # An access request (subject_access_export) gathers what the others hold about a person.
    "intake": (
        *INTAKE_ONLY,
        *(Ask("qry", s, "person_data") for s in ("groups", "volunteers", "reporting")),
    ),
    "groups": (Ask("qry", "intake", "person"),),  # names on a roster, asked at read time
}
"""The requests a service sends to other services (or, for intake, to its own kind)."""

CLIENT = "client"
ADMIN = "admin"
INBOX = "_INBOX.>"
JS_API = "$JS.API"


def subscription_name(source: str) -> str:
    """The name ``Subscription.to(source)`` gives a subscription."""
    return f"{source}-events"


def durable_name(service: str, source: str, sites: Sequence[str] | None) -> str:
    """The durable an instance of ``service`` for ``sites`` (None: every site) reads ``source``
    through; the same rule as ``EventConsumer.durable``."""
    base = f"{service}_{subscription_name(source)}"
    return base if sites is None else f"{base}_{'_'.join(sorted(sites))}"


def _site_tokens(sites: Sequence[str] | None) -> list[str]:
    return ["*"] if sites is None else sorted(sites)


def _durable_api(stream: str, durable: str, filters: Sequence[str] | None = None) -> list[str]:
    """What creating, binding and reading one durable pull consumer takes.

    The kit creates a durable through ``CONSUMER.CREATE.<stream>.<durable>.<filter>`` when it
    has one filter subject, so ``filters`` (one subject) holds the durable to it: an instance
    serving one site cannot point its durable at another site's events. With several filters
    the subject carries none (``CONSUMER.CREATE.<stream>.<durable>``) and the server cannot
    check them; ``filters`` None allows any filter (an instance serving every site).
    """
    if filters is None:
        create = [f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.>"]
    elif len(filters) == 1:
        create = [f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.{filters[0]}"]
    else:
        create = [f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}"]
    return [
        *create,
        f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def service_permissions(
    service: str,
    sites: Sequence[str] | None = None,
    *,
    reads: Iterable[str] | None = None,
    asks: Iterable[tuple[str, str, str] | Ask] | None = None,
) -> Permissions:
    """Least privilege for one instance of ``service`` serving ``sites`` (None: every site).

    ``reads`` and ``asks`` default to the service's entries in ``READS`` and ``ASKS``.
    """
    reads = READS.get(service, ()) if reads is None else tuple(reads)
    asks = tuple(Ask(*a) for a in (ASKS.get(service, ()) if asks is None else asks))
    tokens = _site_tokens(sites)
    own = stream_name(service)
    publish = [f"evt.{site}.{service}.>" for site in tokens]
    publish.append(f"{dlq_subject(service, '>')}")
    publish += [
        f"{ask.kind}.{site}.{ask.service}.{ask.name}"
        for ask in asks
        for site in (["*"] if ask.any_site else tokens)
    ]
    publish += [
        # Its own stream: created or given missing subjects at start, its duplicate window read.
        f"{JS_API}.STREAM.INFO.{own}",
        f"{JS_API}.STREAM.CREATE.{own}",
        f"{JS_API}.STREAM.UPDATE.{own}",
        # The relay's look-up by event id: a short-lived consumer on its own stream, named at
        # random (so by wildcard), read and deleted; for one site, held to that site's events.
        *(
            [f"{JS_API}.CONSUMER.CREATE.{own}.*"]
            if sites is None or len(tokens) > 1
            else [f"{JS_API}.CONSUMER.CREATE.{own}.*.evt.{tokens[0]}.{service}.>"]
        ),
        f"{JS_API}.CONSUMER.MSG.NEXT.{own}.*",
        f"{JS_API}.CONSUMER.DELETE.{own}.*",
        # DLQ: created by the first service to start, never updated; dead letters published.
        f"{JS_API}.STREAM.INFO.{DLQ_STREAM}",
        f"{JS_API}.STREAM.CREATE.{DLQ_STREAM}",
    ]
    for source in reads:
        stream = stream_name(source)
        publish.append(f"{JS_API}.STREAM.INFO.{stream}")  # waits for the source's stream
        filters = None if sites is None else [f"evt.{site}.{source}.>" for site in tokens]
        publish += _durable_api(stream, durable_name(service, source, sites), filters)
    subscribe = [f"{kind}.{site}.{service}.*" for kind in ("cmd", "qry") for site in tokens]
    subscribe.append(f"{reply_prefix(service, sites)}.>")
    return {
        "publish": {"allow": _unique(publish)},
        "subscribe": {"allow": subscribe},
        # Replies go only to the reply subject of a request this user received, once.
        "allow_responses": True,
    }


def _reading(streams: Iterable[str]) -> list[str]:
    """Read-only JetStream rights on ``streams``: info and stored messages (by sequence, or the
    last on a subject). Not ``CONSUMER.CREATE.<stream>`` (server-named consumers): the server
    also takes a ``name`` in that request's body, so it would let the user create or change a
    consumer of any name, a service's durable included (measured on nats-server 2.15)."""
    allowed = []
    for stream in streams:
        allowed += [
            f"{JS_API}.STREAM.INFO.{stream}",
            f"{JS_API}.STREAM.MSG.GET.{stream}",
            f"{JS_API}.DIRECT.GET.{stream}",
            f"{JS_API}.DIRECT.GET.{stream}.>",
        ]
    return allowed


def _own_consumer(stream: str, name: str) -> list[str]:
    """A consumer of its own, by name (the name in the subject is checked against the request):
    created with any filter and config, read, acknowledged and deleted."""
    return [*_durable_api(stream, name, None), f"{JS_API}.CONSUMER.DELETE.{stream}.{name}"]


def reader_permissions(
    streams: Iterable[str] | None = None, *, consumers: Mapping[str, str] | None = None
) -> Permissions:
    """A read-only consumer of events (outside carenet): live events by core subscription to
    ``evt.>``, stored ones on ``streams`` (default every service's) by sequence, and the
    consumers named in ``consumers`` (stream -> consumer name), its own to create and read."""
    streams = [stream_name(s) for s in SERVICES] if streams is None else list(streams)
    publish = [f"{JS_API}.STREAM.NAMES", *_reading(streams)]
    for stream, name in (consumers or {}).items():
        publish += _own_consumer(stream, name)
    return {
        "publish": {"allow": _unique(publish)},
        "subscribe": {"allow": ["evt.>", INBOX]},
    }


CLIENT_CONSUMER = "client"
"""The name of the client's own consumer on each service's stream."""


def client_permissions() -> Permissions:
    """A staff tool plus a reporting consumer: any command or query, and reading events (its
    own consumer on each stream is named ``client``)."""
    reader = reader_permissions(consumers={stream_name(s): CLIENT_CONSUMER for s in SERVICES})
    return {
        "publish": {
            "allow": ["cmd.>", "qry.>", *reader["publish"]["allow"]],
            "deny": [f"{a.kind}.*.{a.service}.{a.name}" for a in INTAKE_ONLY],
        },
        "subscribe": reader["subscribe"],
    }


def leaf_user_name(site: str) -> str:
    return f"leaf_{site}"


def leaf_permissions(site: str, share: Share, served: Sequence[str]) -> Permissions:
    """On the hub, for the leaf link of the deployment of ``site`` (serving ``served``).

    ``publish`` is what the site may send into the hub, ``subscribe`` what the hub forwards to
    the site (nats-server applies a leaf user's permissions that way round). Sourcing: the hub
    creates and deletes consumers on the shared streams through ``$JS.<site>.API`` and sends
    their flow control; the site answers on ``$JSC.R.`` and delivers on ``$JS.S.``."""
    api = site_api(site)
    # Never _INBOX: it carries each site's own request/reply traffic (names in answers to
    # queries, events fetched by pull consumers) to whoever subscribes to it at the hub.
    publish = ["$JS.S.>", "$JSC.R.>", "$JS.FC.>", f"{HUB_REPLIES}.>"]
    subscribe = [f"{HUB_REPLIES}.>"]
    for _, stream in shared_streams(share):
        subscribe += [
            f"{api}.CONSUMER.CREATE.{stream}",
            f"{api}.CONSUMER.CREATE.{stream}.>",
            f"{api}.CONSUMER.DELETE.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    subscribe.append(f"{api}.STREAM.INFO.{shared_streams(share)[0][1]}")
    if share == "events":  # a case handed between two sites' intakes (INTAKE_ONLY), answered
        publish += [f"{a.kind}.*.{a.service}.{a.name}" for a in INTAKE_ONLY]
        publish += [f"{REPLIES}.{a.service}.>" for a in INTAKE_ONLY]
        subscribe += [
            f"{a.kind}.{code}.{a.service}.{a.name}" for a in INTAKE_ONLY for code in sorted(served)
        ]
        subscribe += [f"{reply_prefix(a.service, served)}.>" for a in INTAKE_ONLY]
    return {"publish": {"allow": _unique(publish)}, "subscribe": {"allow": _unique(subscribe)}}


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class NatsUser:
    """One user of the server config. ``password`` is the literal password, or a reference
    to an environment variable (``$NAME``) nats-server resolves when it reads the file.
    ``permissions`` None means every right (the admin)."""

    name: str
    password: str
    permissions: Permissions | None

    def url(self, server_url: str) -> str:
        """``server_url`` with this user's credentials in it (for a literal password)."""
        parts = urlsplit(server_url)
        host = parts.netloc.rpartition("@")[2]
        # nats-py does not percent-decode credentials: names and passwords are URL-safe.
        if quote(self.name, safe="") != self.name or quote(self.password, safe="") != self.password:
            raise ValueError(f"the NATS user {self.name!r} needs a URL-safe name and password")
        auth = f"{self.name}:{self.password}"
        return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))


def user_name(service: str, sites: Sequence[str] | None = None) -> str:
    """``intake``, or ``intake_jinsha_likang`` for an instance serving only those sites."""
    return service if sites is None else f"{service}_{'_'.join(sorted(sites))}"


def password_variable(user: str) -> str:
    """The environment variable the compose deployment reads ``user``'s password from."""
    token = "".join(c if c.isalnum() else "_" for c in user).upper()
    return f"CARENET_NATS_{token}_PASSWORD"


def new_password() -> str:
    """A random password that needs no escaping in a URL or the config file."""
    return secrets.token_urlsafe(24)


def standard_users(
    services: Iterable[str] = SERVICES,
    sites: Sequence[str] | None = None,
    *,
    passwords: Mapping[str, str] | None = None,
    reads: Mapping[str, Iterable[str]] | None = None,
) -> list[NatsUser]:
    """A user per service instance (for ``sites``), ``client`` and ``admin``.

    ``passwords`` maps user name to password; a user missing from it gets a fresh one.
    ``reads`` overrides ``READS`` for some services (examples run by ``carenet up``)."""
    passwords = dict(passwords or {})
    users = []
    for service in services:
        name = user_name(service, sites)
        users.append(
            NatsUser(
                name,
                passwords.get(name) or new_password(),
                service_permissions(service, sites, reads=(reads or {}).get(service)),
            )
        )
    users.append(NatsUser(CLIENT, passwords.get(CLIENT) or new_password(), client_permissions()))
    users.append(NatsUser(ADMIN, passwords.get(ADMIN) or new_password(), None))
    return users


def environment_users(
    services: Iterable[str] = SERVICES, sites: Sequence[str] | None = None
) -> list[NatsUser]:
    """``standard_users`` with every password a ``$CARENET_NATS_<USER>_PASSWORD`` reference."""
    names = [user_name(s, sites) for s in services] + [CLIENT, ADMIN]
    return standard_users(services, sites, passwords={n: f"${password_variable(n)}" for n in names})


def _value(text: str) -> str:
    # An environment reference stays bare for nats-server to resolve; the rest is a JSON string.
    if text.startswith("$") and text[1:].replace("_", "").isalnum():
        return text
    return json.dumps(text)


def render(users: Iterable[NatsUser], *, header: str = "") -> str:
    """An ``authorization`` block for nats-server: no user, no connection."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines.append("authorization {")
    lines.append("  users = [")
    for user in users:
        lines.append(f"    {{user: {json.dumps(user.name)}, password: {_value(user.password)}")
        if user.permissions is not None:
            body = json.dumps(user.permissions, indent=2).replace("\n", "\n      ")
            lines.append(f"      permissions: {body}")
        lines.append("    }")
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


DEPLOY_HEADER = """\
NATS users for docker-compose.yml, included by nats.conf. GENERATED: do not edit; run
  python -m shared.local.nats_users conf > deploy/nats/users.conf
(a test fails when this file differs from what the code makes). Passwords are not here:
nats-server reads each $CARENET_NATS_<USER>_PASSWORD from its environment (see .env.example
and docs/nats-users.md). For instances serving only some sites, render with --sites."""


def deploy_config(sites: Sequence[str] | None = None) -> str:
    return render(environment_users(sites=sites), header=DEPLOY_HEADER)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.local.nats_users", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="what", required=True)
    conf = sub.add_parser("conf", help="print the users block, passwords from the environment")
    env = sub.add_parser("env", help="print fresh passwords as .env lines (for compose)")
    for each in (conf, env):
        each.add_argument("--sites", default="*", help="sites the instances serve, or *")
        each.add_argument(
            "--role",
            choices=["single", "hub", "site"],
            default="single",
            help="hub: head office's server (deploy/nats/hub-users.conf); site: a site's own "
            "server (with --site); from the sites file in CARENET_CONFIG",
        )
        each.add_argument("--site", help="with --role site: the site's code")
    args = parser.parse_args(argv)
    if args.role != "single":
        return _role_main(args.what, args.role, args.site, args.sites)
    sites = None if args.sites.strip() == "*" else sorted(args.sites.replace(" ", "").split(","))
    if args.what == "conf":
        sys.stdout.write(deploy_config(sites))
        return 0
    names = [user_name(s, sites) for s in SERVICES] + [CLIENT, ADMIN]
    for name in names:
        print(f"{password_variable(name)}={new_password()}")
    return 0


def _role_main(what: str, role: str, site: str | None, sites: str) -> int:
    # Imported here: shared.local.roles builds on this module.
    from shared.agency.sites import DEMO_ORGANISATION, load_organisation
    from shared.local.roles import Deployment, deploy_environment, deploy_users_conf

    if (role == "site") != bool(site) or sites.strip() != "*":
        print(
            "--role site needs --site CODE; --role hub takes neither --site nor --sites",
            file=sys.stderr,
        )
        return 2
    try:
        organisation = load_organisation(
            Path(os.environ.get("CARENET_CONFIG") or DEMO_ORGANISATION)
        )
        if site is not None and site not in organisation.codes():
            raise ValueError(f"no site {site} in the sites file")
        if site is not None:
            organisation.served_by_deployment(site)
    except ValueError as exc:
        print(f"python -m shared.local.nats_users: {exc}", file=sys.stderr)
        return 2
    deployment = Deployment("hub" if role == "hub" else "site", site)
    if what == "conf":
        sys.stdout.write(deploy_users_conf(deployment, organisation))
    else:
        print("\n".join(deploy_environment(deployment, organisation)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
