"""docs/access.md is the access table the code declares: regenerated, it is the same file."""

from __future__ import annotations

from shared.kit.contracts import access_docs, docs
from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.public import SERVICES
from tests.conftest import REPO


def test_the_published_access_table_matches_the_code():
    rendered = docs.generated()["access.md"]
    on_disk = (REPO / "docs" / "access.md").read_text(encoding="utf-8")
    assert on_disk == rendered, "docs/access.md is out of date: run `carenet docs`"


def test_the_access_table_names_every_command_and_query_and_links_the_nats_users():
    text = access_docs.render()
    for service, name in [*CATALOGUE.commands, *CATALOGUE.queries]:
        if service not in SERVICES:  # the kit's example services of other tests
            continue
        assert f"| `{name}` |" in text, f"{service}.{name} is missing from docs/access.md"
    assert "(nats-users.md)" in text
    assert "not_found" in text and "forbidden" in text
