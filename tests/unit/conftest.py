"""Unit tier: services and pure functions of housify-api and housify_common, without a server.

No PostgreSQL, no Redis server, no network: collaborators are built alone
(``fakeredis`` in-process where a Redis client is needed). Run with
``python -m pytest tests/unit -q`` (a few seconds).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _scratch_database() -> None:
    """No scratch database for unit tests (overrides tests/conftest.py's)."""
