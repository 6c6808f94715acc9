"""``nixos/modules/retry.sh``: the migration units' bounded, logged retry with exponential back-off."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .conftest import REPO

RETRY = REPO / "nixos" / "modules" / "retry.sh"


def run(tmp_path: Path, fail_times: int, attempts: int) -> tuple[subprocess.CompletedProcess, float]:
    """retry.sh around a command that fails ``fail_times`` times (exit 3), then succeeds."""
    counter = tmp_path / "count"
    counter.write_text("0")
    command = f'n=$(cat {counter}); echo $((n + 1)) > {counter}; [ "$n" -ge {fail_times} ] || exit 3'
    env = {"PATH": "/usr/bin:/bin", "RETRY_ATTEMPTS": str(attempts), "RETRY_DELAY": "0", "RETRY_MAX_DELAY": "0"}
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(RETRY), "sh", "-c", command], env=env, capture_output=True, text=True, timeout=60
    )
    return result, time.monotonic() - started


def test_retries_until_the_command_succeeds_and_logs_each_failure(tmp_path: Path) -> None:
    result, _ = run(tmp_path, fail_times=3, attempts=5)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "count").read_text().strip() == "4"
    assert result.stderr.count("failed (exit status 3, attempt") == 3
    assert "attempt 3 of 5" in result.stderr and "the database may not answer yet" in result.stderr


def test_gives_up_after_the_bound_with_the_commands_status(tmp_path: Path) -> None:
    result, _ = run(tmp_path, fail_times=100, attempts=4)
    assert result.returncode == 3
    assert (tmp_path / "count").read_text().strip() == "4"
    assert "failed 4 times (last exit status 3); giving up" in result.stderr


def test_back_off_doubles_up_to_the_cap(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    counter.write_text("0")
    env = {"PATH": "/usr/bin:/bin", "RETRY_ATTEMPTS": "4", "RETRY_DELAY": "1", "RETRY_MAX_DELAY": "2"}
    started = time.monotonic()
    result = subprocess.run(["bash", str(RETRY), "false"], env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert [line.rsplit(" ", 1)[-1] for line in result.stderr.splitlines() if "next try" in line] == ["1s", "2s", "2s"]
    assert 5 <= elapsed < 15  # 1 + 2 + 2 seconds of waiting
