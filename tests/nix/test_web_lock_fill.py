"""``nixos/packages/fill-npm-lock.mjs``: web.nix's postPatch, run with Node on the real lock (offline).

The registry is a placeholder here; .ci/run (``check-npm-fill.sh``) lets npm install the lock
filled from its configured registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO

FILL = REPO / "nixos" / "packages" / "fill-npm-lock.mjs"
LOCK = REPO / "web" / "package-lock.json"


def fill(lock: Path, registry: str) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (.ci/run installs nodejs)")
    return subprocess.run([node, str(FILL), str(lock), registry], capture_output=True, text=True, timeout=60)


def test_every_registry_entry_gets_npms_tarball_url_and_keeps_its_integrity(tmp_path: Path) -> None:
    lock = tmp_path / "package-lock.json"
    shutil.copy(LOCK, lock)
    assert fill(lock, "https://npm.example.test/r/").returncode == 0
    before = json.loads(LOCK.read_text())["packages"]
    after = json.loads(lock.read_text())["packages"]
    assert before.keys() == after.keys()
    for path, entry in after.items():
        if not path:
            continue
        assert entry["integrity"] == before[path]["integrity"], path
        name = path.rsplit("node_modules/", 1)[1]
        base = name.rsplit("/", 1)[-1]
        assert entry["resolved"] == f"https://npm.example.test/r/{name}/-/{base}-{entry['version']}.tgz", path
    assert any(p.startswith("node_modules/@") for p in after)  # scoped names were covered


def test_an_entry_without_integrity_stops_the_fill(tmp_path: Path) -> None:
    data = json.loads(LOCK.read_text())
    victim = next(p for p in data["packages"] if p)
    del data["packages"][victim]["integrity"]
    lock = tmp_path / "package-lock.json"
    lock.write_text(json.dumps(data))
    result = fill(lock, "https://npm.example.test")
    assert result.returncode == 1
    assert f"{victim} has no integrity" in result.stderr


def test_the_committed_lock_names_no_registry_host() -> None:
    assert '"resolved"' not in LOCK.read_text()
