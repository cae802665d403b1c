"""The four services' contract modules: importing this fills the catalogue with the public API."""

from __future__ import annotations

import importlib
import pkgutil

SERVICES = ("intake", "groups", "volunteers", "reporting")


def load_public_contracts() -> list[str]:
    """Import every ``shared.contracts.<service>`` module that exists; returns their services."""
    import shared.contracts as package

    present = {module.name for module in pkgutil.iter_modules(package.__path__)}
    loaded = []
    for service in SERVICES:
        if service in present:
            importlib.import_module(f"shared.contracts.{service}")
            loaded.append(service)
    return loaded
