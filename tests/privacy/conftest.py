"""Every service running (intake, groups, volunteers, reporting), as reporting's tests run them."""

from tests.reporting.conftest import reporting, system

__all__ = ["reporting", "system"]
