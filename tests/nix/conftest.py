"""Fixtures for the Nix checks: the ``nix-instantiate`` binary and nixpkgs' lib.

nixpkgs itself cannot be fetched on the build machines, so the modules are
evaluated against nixpkgs' ``lib`` alone (a clone of
``nix-community/nixpkgs.lib``) with stand-in declarations of the upstream
options (``nixos/tests/eval/``). Set ``HOUSIFY_NIXPKGS_LIB`` to that clone;
without it the evaluation tests are skipped and say so. The parse tests need
only ``nix-instantiate`` (Debian's ``nix-bin``, installed by ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIB_ENV = "HOUSIFY_NIXPKGS_LIB"
NIX_TIMEOUT = 120


def nix_instantiate_path() -> str | None:
    return shutil.which("nix-instantiate")


def nixpkgs_lib_path() -> Path | None:
    """The nixpkgs.lib checkout named by ``HOUSIFY_NIXPKGS_LIB``, or None when unset.

    Raises:
        pytest.UsageError: the variable is set but has no ``lib/default.nix``.
    """
    value = os.environ.get(LIB_ENV)
    if not value:
        return None
    path = Path(value).resolve()
    if not (path / "lib" / "default.nix").is_file():
        raise pytest.UsageError(f"{LIB_ENV}={value}: no lib/default.nix there (clone nix-community/nixpkgs.lib)")
    return path


@dataclass
class NixResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> object:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


def run_nix(args: list[str]) -> NixResult:
    env = dict(os.environ, NIX_CONFIG="substituters =\nexperimental-features = nix-command flakes")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=NIX_TIMEOUT, env=env, cwd=REPO)
    return NixResult(proc.returncode, proc.stdout, proc.stderr)


def eval_json(expr: str) -> NixResult:
    """``nix-instantiate --eval --strict --json -E expr`` (the exit code tells errors; stdout may be partial)."""
    return run_nix(["nix-instantiate", "--eval", "--strict", "--json", "-E", expr])


def lib_expr(lib: Path) -> str:
    return f"(import {lib}/lib)"


def harness_expr(lib: Path, *, configuration: str | None = None, modules: str | None = None) -> str:
    """Nix expression evaluating ``nixos/tests/eval`` with a configuration and/or module list."""
    args = [f"lib = {lib_expr(lib)};"]
    if configuration is not None:
        args.append(f"configuration = {configuration};")
    if modules is not None:
        args.append(f"modules = {modules};")
    return f"import {REPO}/nixos/tests/eval {{ {' '.join(args)} }}"


def case_expr(lib: Path, kind: str, name: str) -> str:
    """The configuration ``cases.<kind>.<name>`` of ``nixos/tests/eval/cases.nix``."""
    cases = f"(import {REPO}/nixos/tests/eval/cases.nix {{ lib = {lib_expr(lib)}; }})"
    suffix = ".configuration" if kind == "bad" else ""
    return f'{cases}.{kind}."{name}"{suffix}'


@pytest.fixture(scope="session")
def nix_instantiate() -> str:
    path = nix_instantiate_path()
    if path is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin; .ci/run installs it)")
    return path


@pytest.fixture(scope="session")
def nixpkgs_lib(nix_instantiate: str) -> Path:
    path = nixpkgs_lib_path()
    if path is None:
        pytest.skip(
            f"{LIB_ENV} is unset: module evaluation needs a clone of nix-community/nixpkgs.lib "
            f"(e.g. {LIB_ENV}=/work/nixpkgs-lib); nixpkgs cannot be fetched here"
        )
    return path


def render(name: str, params: dict, tmp_path: Path) -> NixResult:
    """Evaluate ``nixos/lib/render-<name>.nix`` with ``params`` (JSON, through a file: no Nix quoting).

    The renderers need no nixpkgs; the result's ``json()`` is the rendered text.
    """
    args = tmp_path / f"render-{name}-args.json"
    args.write_text(json.dumps(params))
    expr = f"import {REPO}/nixos/lib/render-{name}.nix (builtins.fromJSON (builtins.readFile {args}))"
    return eval_json(expr)


def rendered(name: str, params: dict, tmp_path: Path) -> str:
    """The rendered text; fails the test with Nix's error when evaluation fails."""
    text = render(name, params, tmp_path).json()
    assert isinstance(text, str)
    return text


@pytest.fixture(scope="session", autouse=True)
def _scratch_database() -> None:
    """The Nix checks need no PostgreSQL: no scratch database (overrides tests/conftest.py's)."""
