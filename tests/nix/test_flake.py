"""``nix flake check`` of everything that needs only nixpkgs' lib, offline.

nixpkgs is replaced by the nixpkgs.lib clone (``--override-input``); the flake
then exposes its lib-only outputs (overlay, NixOS modules, the modules-eval
check, which evaluates modules, hosts and the bad cases). Packages, the dev
shell, nixosConfigurations and the VM test need nixpkgs and are absent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, run_nix


def lib_flake_ref(lib: Path) -> str:
    return f"git+file://{lib}" if (lib / ".git").exists() else f"path:{lib}"


@pytest.fixture(scope="module")
def flake(nixpkgs_lib: Path) -> list[str]:
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=REPO, capture_output=True, text=True)
    if inside.stdout.strip() != "true":
        pytest.skip("the flake is evaluated from its git work tree; this checkout is not one")
    return ["--no-write-lock-file", "--override-input", "nixpkgs", lib_flake_ref(nixpkgs_lib)]


def test_flake_check_passes_offline(flake: list[str]) -> None:
    result = run_nix(["nix", "flake", "check", "--no-build", *flake])
    assert result.returncode == 0, result.stderr[-3000:]


def test_flake_exposes_lib_level_outputs(flake: list[str]) -> None:
    result = run_nix(["nix", "eval", "--json", ".#nixosModules", "--apply", "builtins.attrNames", *flake])
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == ["default", "housify", "housify-ai", "housify-api", "housify-soap"]
    result = run_nix(["nix", "eval", "--json", ".#checks.x86_64-linux", "--apply", "builtins.attrNames", *flake])
    assert json.loads(result.stdout) == ["modules-eval"]
