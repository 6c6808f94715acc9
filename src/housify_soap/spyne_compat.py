"""Make spyne 2.14 import on Python 3.12 and 3.13: one fix for pip installs and the Nix package.

spyne 2.14.0 (its last release) bundles six 1.14 as ``spyne.util.six``. That
copy's meta-path importer, which serves ``spyne.util.six.moves``, only has the
PEP 302 ``find_module``/``load_module`` pair; Python 3.12 stopped calling
``find_module`` (removed, see "What's New In Python 3.12", importlib), so
``import spyne`` fails there with ``No module named 'spyne.util.six.moves'``.
six 1.16 fixed its own importer by adding the PEP 451 trio ``find_spec``,
``create_module`` and ``exec_module``; :func:`install` adds exactly those three
methods, with six 1.16's bodies, to spyne's copy as it is imported. Replacing
the file with upstream six instead does not work: spyne added functions
(``get_function_name``) to its copy.

Python 3.13 removed the ``cgi`` module (PEP 594), which spyne imports for
``parse_header``; the ``legacy-cgi`` distribution provides it and is a
dependency of housify on 3.13 (``pyproject.toml``).

Why a runtime shim and not a patch of spyne's source: pip installs spyne
unmodified from PyPI, so a source patch could only ever fix the Nix build; the
shim runs wherever ``housify_soap`` is imported, identically under pip and Nix
(where ``nixos/packages/spyne.nix`` builds the same unmodified sdist), and is
exercised by the SOAP test suite on 3.11, 3.12 and 3.13. ``housify_soap``'s
``__init__`` calls :func:`install`, so every import of spyne through
``housify_soap`` is covered; other code must call it before importing spyne.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

SIX = "spyne.util.six"


def _find_spec(
    self: Any, fullname: str, path: object = None, target: object = None
) -> importlib.machinery.ModuleSpec | None:
    if fullname in self.known_modules:
        return importlib.util.spec_from_loader(fullname, self)
    return None


def _create_module(self: Any, spec: importlib.machinery.ModuleSpec) -> ModuleType:
    return self.load_module(spec.name)


def _exec_module(self: Any, module: ModuleType) -> None:
    return None


def patch_six(module: ModuleType) -> None:
    """Give ``module._SixMetaPathImporter`` six 1.16's PEP 451 methods (no-op if it has them)."""
    importer = module._SixMetaPathImporter
    if "find_spec" not in vars(importer):
        importer.find_spec = _find_spec
        importer.create_module = _create_module
        importer.exec_module = _exec_module


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader of ``spyne.util.six``, then patches the module it made."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        patch_six(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code ... for tracebacks and inspect
        return getattr(self._loader, name)


class SpyneSixFinder(importlib.abc.MetaPathFinder):
    """Finds ``spyne.util.six`` like the path finder does, but loads it through :class:`_PatchingLoader`."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != SIX:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


def install() -> None:
    """Make the next ``import spyne`` work on this Python; idempotent.

    Raises:
        ImportError: on Python 3.13+ without the ``cgi`` module (install ``legacy-cgi``).
    """
    if sys.version_info >= (3, 13) and importlib.util.find_spec("cgi") is None:
        raise ImportError(
            "spyne needs the cgi module, removed in Python 3.13: install legacy-cgi (pip install legacy-cgi)"
        )
    if SIX in sys.modules:
        patch_six(sys.modules[SIX])
    if not any(isinstance(finder, SpyneSixFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, SpyneSixFinder())
