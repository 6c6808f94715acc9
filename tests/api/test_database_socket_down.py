"""A PostgreSQL reached over a Unix socket that is gone (server stopped) answers 503, not 500.

Production connects over ``/run/postgresql``; there a stopped server is a
missing socket file, which asyncpg raises as a bare ``FileNotFoundError``
(found by the topology test's PostgreSQL restart).
"""

from __future__ import annotations

from types import SimpleNamespace

import asyncpg
import pytest

from housify_api.errors import os_error_handler


async def test_missing_socket_is_database_unavailable(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(OSError) as caught:
        await asyncpg.connect(f"postgresql:///housify?host={tmp_path}&user=housify", timeout=5)
    request = SimpleNamespace(method="GET", url=SimpleNamespace(path="/users/me"))
    response = os_error_handler(request, caught.value)  # type: ignore[arg-type]
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_other_missing_files_stay_internal_errors() -> None:
    try:
        open("/nonexistent/housify-file")  # noqa: SIM115
    except OSError as exc:
        response = os_error_handler(SimpleNamespace(method="GET", url=SimpleNamespace(path="/x")), exc)  # type: ignore[arg-type]
    assert response.status_code == 500
