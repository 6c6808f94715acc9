# spyne is not in nixpkgs; packaged from its PyPI sdist (no wheel is published),
# unmodified, exactly as pip installs it. It imports on Python 3.12+ only
# through housify_soap.spyne_compat (its bundled six lacks find_spec); the
# install check below loads that very file, so the one fix pip users get is
# what this build is checked with.
# Hash: sha256 of spyne-2.14.0.tar.gz as served by PyPI
# (hex 063e950e179a7d5b06b577c9f2c9091a70d40217f1a853076b3709caa2bf3a16).
{
  lib,
  buildPythonPackage,
  fetchPypi,
  setuptools,
  pytz,
  lxml,
  pythonAtLeast,
  legacy-cgi,
  python,
  # src/housify_soap/spyne_compat.py of the Housify checkout.
  spyneCompat,
}:

buildPythonPackage rec {
  pname = "spyne";
  version = "2.14.0";
  pyproject = true;

  src = fetchPypi {
    inherit pname version;
    hash = "sha256-Bj6VDheafVsGtXfJ8skJGnDUAhfxqFMHazcJyqK/OhY=";
  };

  # setup.py imports setuptools.command.test, which setuptools 72 removed; the
  # custom `test` command is only for spyne's own tox runs, so drop it.
  postPatch = ''
    substituteInPlace setup.py \
      --replace-fail "from setuptools.command.test import test as TestCommand" \
                     "class TestCommand: user_options = []" \
      --replace-fail "'test': RunTests," ""
  '';

  build-system = [ setuptools ];
  dependencies = [
    pytz
    lxml
  ]
  # spyne imports `cgi`, removed from the standard library in Python 3.13 (PEP 594).
  ++ lib.optional (pythonAtLeast "3.13") legacy-cgi;

  # The test suite needs twisted, pyramid, django and network fixtures.
  doCheck = false;
  # `import spyne` alone fails on 3.12+ (see above): import it the way
  # housify_soap does, through the compat finder.
  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    PYTHONPATH="$out/${python.sitePackages}:$PYTHONPATH" ${python.interpreter} -c '
    import runpy
    runpy.run_path("${spyneCompat}")["install"]()
    import spyne, spyne.protocol.soap, spyne.server.wsgi
    '
    runHook postInstallCheck
  '';

  meta = {
    description = "Transport- and architecture-agnostic RPC library (SOAP 1.1 server for housify-soap)";
    homepage = "http://spyne.io/";
    license = lib.licenses.lgpl21Plus;
  };
}
