"""The hash lock (requirements/*.txt) against pyproject.toml, offline.

scripts/lock writes the lock with uv; `.ci/run` resolves again with the index (`scripts/lock
--check`). These checks need no network: a lock whose recorded inputs differ from pyproject.toml's
(a dependency, extra, group, ``[tool.uv]`` or local build changed without `scripts/lock`) is stale;
every requirement pyproject.toml declares must be locked at a version its specifier allows, for
each Python the lock serves; every pin carries sha256 hashes and no file names an index.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK_DIR = REPO / "requirements"
_loader = SourceFileLoader("housify_lock", str(REPO / "scripts" / "lock"))
lock_script = module_from_spec(spec_from_loader("housify_lock", _loader))  # scripts/lock has no .py suffix
_loader.exec_module(lock_script)

# The Pythons the lock serves (Linux x86_64): Debian 12's 3.11, CI's 3.11, Nix's 3.12, CI's 3.13.
PYTHONS = ("3.11.2", "3.11.7", "3.12.12", "3.13.0")


def environment(python: str) -> dict[str, str]:
    return {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: frozenset[str]

    def applies(self, python: str) -> bool:
        return self.marker is None or self.marker.evaluate(environment(python))


def read_lock(name: str) -> tuple[dict[str, str], list[Pin]]:
    """(header fields, pins) of ``requirements/<name>``."""
    text = (LOCK_DIR / name).read_text()
    fields = dict(re.findall(r"^# ([a-z0-9-]+): (\S+)$", text, re.M))
    pins = []
    for block in re.findall(r"^[A-Za-z0-9].*?(?=^[A-Za-z0-9]|\Z)", text, re.M | re.S):
        first = block.replace("\\\n", " ").splitlines()[0]
        spec, _, hashes = first.partition(" --hash")
        requirement, _, marker = spec.partition(";")
        pin_name, version = requirement.strip().split("==")
        pins.append(
            Pin(
                canonicalize_name(pin_name),
                version,
                Marker(marker.strip()) if marker.strip() else None,
                frozenset(re.findall(r"sha256:([0-9a-f]{64})", "--hash" + hashes)),
            )
        )
    return fields, pins


LOCK_FILES = ("all.txt", "ai.txt", "test.txt", "build.txt", "mlsd.txt")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def declared(*extras: str, groups: tuple[str, ...] = ()) -> list[Requirement]:
    project = PYPROJECT["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in project["optional-dependencies"][extra]]
    for group in groups:
        found += [Requirement(r) for r in PYPROJECT["dependency-groups"][group]]
    return found


@pytest.mark.parametrize("name", LOCK_FILES)
def test_lock_was_made_from_this_pyproject(name: str) -> None:
    fields, pins = read_lock(name)
    assert pins, f"requirements/{name} locks nothing"
    assert fields.get("inputs-sha256") == lock_script.inputs_digest(REPO / "pyproject.toml"), (
        f"requirements/{name} is stale: pyproject.toml's dependencies changed since scripts/lock wrote it; "
        "run scripts/lock and commit requirements/"
    )


@pytest.mark.parametrize("name", LOCK_FILES)
def test_every_pin_is_hashed_and_no_file_names_an_index(name: str) -> None:
    text = (LOCK_DIR / name).read_text()
    assert "://" not in text and "--index-url" not in text and "--find-links" not in text
    for pin in read_lock(name)[1]:
        assert pin.hashes, f"{pin.name}=={pin.version} in requirements/{name} has no sha256"


def locked(pins: list[Pin], python: str) -> dict[str, Version]:
    versions: dict[str, Version] = {}
    for pin in pins:
        if pin.applies(python):
            assert pin.name not in versions, f"{pin.name} locked twice for Python {python}"
            versions[pin.name] = Version(pin.version)
    return versions


CASES = [
    ("all.txt", (*PYPROJECT["project"]["optional-dependencies"],), ("build",), PYTHONS),
    ("ai.txt", ("ai", "test"), (), PYTHONS[:2]),
    ("test.txt", ("test",), (), PYTHONS),
]


@pytest.mark.parametrize(("name", "extras", "groups", "pythons"), CASES, ids=[c[0] for c in CASES])
def test_every_declared_requirement_is_locked_at_an_allowed_version(
    name: str, extras: tuple[str, ...], groups: tuple[str, ...], pythons: tuple[str, ...]
) -> None:
    pins = read_lock(name)[1]
    for python in pythons:
        versions = locked(pins, python)
        for requirement in declared(*extras, groups=groups):
            if requirement.marker is not None and not requirement.marker.evaluate(environment(python)):
                continue
            key = canonicalize_name(requirement.name)
            assert key in versions, f"{requirement} (pyproject.toml) is not in requirements/{name} for Python {python}"
            assert requirement.specifier.contains(versions[key], prereleases=True), (
                f"requirements/{name} locks {key}=={versions[key]}, outside pyproject.toml's {requirement}"
            )


@pytest.mark.parametrize("name", ["ai.txt", "test.txt", "build.txt", "mlsd.txt"])
def test_each_install_set_is_part_of_the_whole_lock(name: str) -> None:
    """The install sets are cuts of one resolution: same versions and hashes as all.txt, except a
    local build (torch 2.13.0+cpu), which all.txt allows by its hash."""
    whole = {(p.name, p.version, p.marker and str(p.marker)): p for p in read_lock("all.txt")[1]}
    for pin in read_lock(name)[1]:
        version = pin.version.split("+")[0]
        same = [p for (n, v, _), p in whole.items() if n == pin.name and v == version]
        assert same, f"{pin.name}=={pin.version} (requirements/{name}) is not in requirements/all.txt"
        assert pin.hashes <= same[0].hashes, f"{pin.name}: requirements/{name} allows hashes all.txt does not"


def test_the_cpu_set_takes_torch_as_the_local_cpu_build_without_cuda_wheels() -> None:
    pins = {p.name: p for p in read_lock("ai.txt")[1]}
    version, label, sha256 = lock_script.LOCAL_BUILDS["torch"]
    assert pins["torch"].version == f"{version}+{label}" and pins["torch"].hashes == {sha256}
    assert not [n for n in pins if lock_script.CUDA_ONLY.match(n)]
    whole = {p.name: p for p in read_lock("all.txt")[1]}
    assert sha256 in whole["torch"].hashes and len(whole["torch"].hashes) > 1
