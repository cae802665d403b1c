"""The four services' contract modules: importing this fills the catalogue with the public API."""

from __future__ import annotations

import importlib
import pkgutil

SERVICES = ("intake", "groups", "volunteers", "reporting")


def load_public_contracts() -> list[str]:
    """Import every ``shared.kit.contracts.<service>`` module there is; returns their services."""
    import shared.kit.contracts as package

    present = {module.name for module in pkgutil.iter_modules(package.__path__)}
    loaded = []
    for service in SERVICES:
        if service in present:
            importlib.import_module(f"shared.kit.contracts.{service}")
            loaded.append(service)
    return loaded
