"""Every service running (intake, groups, volunteers, reporting), as reporting's tests run them."""

from tests.reporting.conftest import system

__all__ = ["system"]
