"""The tree's layers, read from the imports in the source: who may know whom.

agency (sites, instruments) < kit (contracts, bus, db, bootstrap) < each service; the local
runtime and the command line (with a service's own `cli` module) sit on top. A service never
imports another service, and the kit never imports a service. Handler modules hold no SQL: it
lives in each service's store.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "app.py").exists())
HANDLER_MODULES = ("handlers.py", "inbound.py", "queries.py")
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|LOCK|CREATE|ALTER|TRUNCATE)\b", re.I)


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in {"shared", "services"}}


def _graph(package: str) -> dict[str, set[str]]:
    folder = ROOT.joinpath(*package.split("."))
    return {_module(p): _imports(p) for p in sorted(folder.rglob("*.py"))}


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


def _breaches(package: str, allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {target}"
        for module, targets in _graph(package).items()
        for target in sorted(targets)
        if not _under(target, *allowed)
    ]


def test_the_agencys_configuration_depends_on_nothing_of_carenets():
    assert _breaches("shared.agency", ("shared.agency",)) == []


def test_the_kit_imports_no_service_no_local_runtime_and_no_command_line():
    assert _breaches("shared.kit", ("shared.kit", "shared.agency")) == []


def test_the_local_runtime_starts_services_by_name_and_imports_none():
    assert _breaches("shared.local", ("shared.local", "shared.kit", "shared.agency")) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_the_kit_and_itself_only(service):
    allowed = ("shared.kit", "shared.agency", f"services.{service}")
    breaches = _breaches(f"services.{service}", allowed)
    # A service's own command-line module (`carenet report`) is part of the command line.
    plugin = f"services.{service}.cli imports shared.cli."
    assert [b for b in breaches if not b.startswith(plugin)] == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_handler_modules_hold_no_sql(service):
    sql = []
    for name in HANDLER_MODULES:
        path = ROOT / "services" / service / name
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if SQL.match(node.value):
                    sql.append(f"{name}:{node.lineno}: {node.value.split()[0]} ...")
    assert sql == []
