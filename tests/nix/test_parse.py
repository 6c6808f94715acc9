"""Every .nix file of the repository parses, and the lock pins what flake.nix asks for."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .conftest import REPO, run_nix


def nix_files() -> list[str]:
    """Tracked and untracked (not ignored) .nix files, relative to the repository.

    Outside a git work tree (an unpacked source archive): every .nix file
    below the repository except virtualenvs.
    """
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.nix"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if listing.returncode == 0:
        paths = listing.stdout.split()
    else:
        paths = [str(p.relative_to(REPO)) for p in REPO.rglob("*.nix") if ".venv" not in p.parts]
    return sorted({path for path in paths if (REPO / path).is_file()})


FILES = nix_files()


def test_the_flake_and_modules_are_among_the_files() -> None:
    for expected in ("flake.nix", "nixos/modules/housify.nix", "nixos/hosts/edge/default.nix", "nixos/tests/vm.nix"):
        assert expected in FILES


@pytest.mark.parametrize("path", FILES)
def test_nix_file_parses(nix_instantiate: str, path: str) -> None:
    result = run_nix([nix_instantiate, "--parse", str(REPO / path)])
    assert result.returncode == 0, f"{path}: {result.stderr}"


def test_parse_check_rejects_a_syntax_error(nix_instantiate: str, tmp_path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ services.housify = { enable = true; ")
    result = run_nix([nix_instantiate, "--parse", str(broken)])
    assert result.returncode != 0
    assert "syntax error" in result.stderr


def test_lock_pins_the_input_flake_nix_names() -> None:
    lock = json.loads((REPO / "flake.lock").read_text())
    assert lock["version"] == 7 and lock["root"] == "root"
    assert lock["nodes"]["root"]["inputs"] == {"nixpkgs": "nixpkgs"}
    node = lock["nodes"]["nixpkgs"]
    url = re.search(r'inputs\.nixpkgs\.url = "github:(\w+)/(\w+)/([\w.-]+)";', (REPO / "flake.nix").read_text())
    assert url, "flake.nix: inputs.nixpkgs.url not found"
    owner, repo, ref = url.groups()
    assert node["original"] == {"owner": owner, "repo": repo, "ref": ref, "type": "github"}
    locked = node["locked"]
    assert (locked["owner"], locked["repo"], locked["type"]) == (owner, repo, "github")
    assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"])
    assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"])
    assert isinstance(locked["lastModified"], int)
