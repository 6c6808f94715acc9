"""The web app's unit tests (vitest, web/src/lib/*.test.ts): mask painting, the before/after slider,
the token refresh and the event-stream reconnect. Run here so one pytest run covers the app."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from tests.web.conftest import WEB


def test_vitest_suite_passes() -> None:
    npm = shutil.which("npm")
    if npm is None or not (WEB / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("npm or web/node_modules missing: run scripts/bootstrap (npm ci in web/)")
    result = subprocess.run([npm, "test", "--silent", "--", "--reporter=dot"], cwd=WEB, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
