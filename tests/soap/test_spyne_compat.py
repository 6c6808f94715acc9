"""``housify_soap.spyne_compat``: spyne 2.14 imports on this Python (3.11, 3.12, 3.13 in CI).

Each check runs in a fresh interpreter, since an import, once done, cannot be
undone in this one.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_spyne_and_its_soap_protocol_import_through_housify_soap() -> None:
    result = python(
        "import housify_soap, importlib.util, spyne, spyne.protocol.soap, spyne.server.wsgi\n"
        "from spyne.util.six.moves import http_cookies\n"
        "assert importlib.util.find_spec('spyne.util.six.moves') is not None\n"
        "print('ok')"
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_service_module_imports_and_builds_its_wsdl_application() -> None:
    result = python("import housify_soap.service as s; print(sorted(n for n in dir(s) if 'Service' in n))")
    assert result.returncode == 0, result.stderr
    assert "CryptoRateService" in result.stdout


@pytest.mark.skipif(sys.version_info < (3, 12), reason="spyne's bundled six works unpatched before 3.12")
def test_without_the_shim_spyne_does_not_import_here() -> None:
    """The defect the shim mends, seen on this very interpreter (so the check above means something)."""
    result = python("import spyne")
    assert result.returncode != 0
    assert "spyne.util.six.moves" in result.stderr


def test_install_is_idempotent_and_patches_an_already_imported_six() -> None:
    result = python(
        "import sys, housify_soap.spyne_compat as c\n"
        "c.install(); c.install()\n"
        "assert sum(isinstance(f, c.SpyneSixFinder) for f in sys.meta_path) == 1\n"
        "import spyne.util.six as six\n"
        "assert 'find_spec' in vars(six._SixMetaPathImporter)\n"
        "print('ok')"
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
