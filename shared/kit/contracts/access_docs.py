"""Generate ``docs/access.md``: the access table as the catalogue declares it, and the rules
each service checks record by record.

``carenet docs`` writes it with the other generated documents, and a test fails when the file
differs from what the code declares.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.kit.contracts.catalogue import CATALOGUE, RequestSpec
from shared.kit.contracts.public import SERVICES, load_public_contracts
from shared.kit.identity import access
from shared.kit.identity.access import ROLES, Access, Role

ROLE_MEANING: dict[Role, str] = {
    "social_worker": "casework: people, referrals, consent, cases, assessments, programmes",
    "centre_manager": "everything at their sites, the access log, exact figures of their own site",
    "volunteer_coordinator": "volunteers, teams, duties, peer matches; programmes' sessions",
    "peer_supporter": "their own duties, hours, matches and contacts (`sub` = `volunteer_id`)",
    "analyst": "de-identified reporting of any site; no personal data",
    "operator": "publishing summaries; rebuilds, dead-letter replays and status; no personal data",
}

SCOPE_MEANING = {
    "own": "a site the token names (not a parent of it, nor `*`)",
    "children": "a site the token names or a site below one of them; `*` covers every site",
    "all": "any site of the organisation, whatever the token names",
}

RECORD_RULES = """\
The table above is checked before a request is decoded: a caller none of whose roles reaches
the subject's site is `forbidden`, and nothing changes. Then each service checks the records a
request names:

- **Records by id are visible from their own site and the sites above it.** A query sent to
  `qry.<S>.…` shows a record (person, case, consent, programme, roster, completion,
  volunteer, duties) only if it is kept at `S` or at a site below `S`; any other is
  `not_found`, the same answer as an id that does not exist, so nobody learns that it exists
  elsewhere. A parent site's staff read their children's records under their own subject or the
  child's.
- **A site's lists include the sites below it** (`referrals_overdue`, `safety_followups`,
  volunteers' `hours` and `recognition`), each row naming its `site`; never a site above it or
  beside it.
- **A person is known at the site they are registered at and at every site where they have
  (or had) a case** (a person transferred in). `find_people` searches only the people known at
  the subject's site and the sites below it.
- **Commands change records at the subject's own site.** A command naming a case, referral,
  assessment, session, enrolment, duty or match kept at another site is `not_found`; a parent
  site's staff act on a child site's record by sending to the child's subject (their token
  reaches it). A command may name a person known at the subject's site (or below it), or one
  registered at a site the caller's token reaches for that command (a centre's worker opening a
  case at one of its street programmes).
- **A payload's `site` never widens the subject's.** Reporting's `summary` and `outcomes`
  answer for the subject's site or a site below it (`*` only under the top site): any other is
  `forbidden`. Exact figures are for a `centre_manager` whose token names that site itself;
  anyone else asking `exact` is `forbidden` (analysts, head office and a parent's staff get
  de-identified figures).
- **A peer supporter acts on their own duties and matches only.** Their token's `sub` is their
  `volunteer_id`. When `peer_supporter` is the only role a request was let through by,
  `confirm_assignment`, `decline_assignment` and `log_hours` are `forbidden` for another
  volunteer's duty or hours, `log_peer_contact` for a match whose peer is someone else, and the
  `assignments` query lists their own duties only.
- **Every read of personal data is in intake's access log**: `person`, `find_people` (each
  person found), `case` and `consent`, and the names on a group's `roster` (groups reads them
  from intake with the caller's own token). Each entry holds the verified `sub`, its roles, the
  query, the person, the subject's site and when. The log is the `access_log` query, for a
  `centre_manager`; it shows the reads made at the site and the sites below it.
- **A transfer is a handoff between two sites' intakes.** `transfer_case` is checked at the
  sending site; the sending intake then sends `receive_transfer` to the receiving site with the
  worker's own token (row `HANDOFFS`: any site, since the token need not name the receiving
  site). Only an intake instance may publish `receive_transfer` on NATS (docs/nats-users.md).
  A token that expired before a cut link came back is refused `unauthenticated` there: the
  transfer is `refused` and the case open again; send `transfer_case` again with a fresh token.
- `actor` in a payload is optional; when given it must be the token's `sub` (else
  `not_allowed`). What a command records as its actor is always the `sub`.
"""


def _row_names() -> dict[tuple[tuple[str, str], ...], str]:
    """The named rows of ``shared/kit/identity/access.py``, by their contents."""
    return {
        tuple(sorted(value.items())): name
        for name, value in vars(access).items()
        if name.isupper() and isinstance(value, Mapping) and name != "EVERY_ROLE"
    }


def _row(spec: RequestSpec, names: Mapping[tuple[tuple[str, str], ...], str]) -> str:
    row: Access = spec.access
    cells = [row.get(role, "—") for role in ROLES]
    name = names.get(tuple(sorted(row.items())), "")
    kind = "command" if spec.kind == "cmd" else "query"
    return f"| `{spec.name}` | {kind} | {name} | " + " | ".join(cells) + " |"


def render() -> str:
    """``docs/access.md`` as text."""
    load_public_contracts()
    names = _row_names()
    lines = [
        "# Access: who may send what, for which sites",
        "",
        "<!-- Generated by `carenet docs` from the `access=` row of each `@command` and `@query`",
        "     in shared/kit/contracts/*.py (named rows in shared/kit/identity/access.py).",
        "     Do not edit: a test fails when this file differs from the code. -->",
        "",
        "Every command and query carries the caller's token (`Authorization: Bearer <token>`,",
        "see docs/contract.md); its `roles` and `sites` decide what it may do. A cell names the",
        "sites a role may send the request for; `—` means never (`forbidden`).",
        "",
        "## Roles",
        "",
    ]
    lines += [f"- `{role}`: {ROLE_MEANING[role]}" for role in ROLES]
    lines += ["", "## Scopes", ""]
    lines += [f"- `{scope}`: {meaning}" for scope, meaning in SCOPE_MEANING.items()]
    header = "| request | kind | row | " + " | ".join(f"`{role}`" for role in ROLES) + " |"
    rule = "|" + "---|" * (3 + len(ROLES))
    requests = [*CATALOGUE.commands.values(), *CATALOGUE.queries.values()]
    for service in SERVICES:
        mine = sorted(
            (spec for spec in requests if spec.service == service),
            key=lambda spec: (spec.kind, spec.name),
        )
        if not mine:
            continue
        lines += ["", f"## {service}", "", header, rule]
        lines += [_row(spec, names) for spec in mine]
    lines += ["", "## Rules checked record by record", "", RECORD_RULES.rstrip()]
    lines += [
        "",
        "## Service users on NATS",
        "",
        "Which NATS user each service instance connects as, what it may publish and subscribe",
        "to, and how to create and rotate their credentials: [nats-users.md](nats-users.md).",
        "",
    ]
    return "\n".join(lines)
