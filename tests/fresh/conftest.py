"""tests/fresh: the hash lock's checks (offline) and the bare-machine test's driver (fresh_machine.sh).

No test here needs PostgreSQL or Redis.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _scratch_database() -> None:
    """No scratch database for these checks (overrides tests/conftest.py's)."""
