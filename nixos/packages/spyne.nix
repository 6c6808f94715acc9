# spyne is not in nixpkgs; packaged from its PyPI sdist (no wheel is published).
# Hash: sha256 of spyne-2.14.0.tar.gz as served by PyPI
# (hex 063e950e179a7d5b06b577c9f2c9091a70d40217f1a853076b3709caa2bf3a16).
{
  lib,
  buildPythonPackage,
  fetchPypi,
  setuptools,
  pytz,
  lxml,
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
  ];

  # The test suite needs twisted, pyramid, django and network fixtures.
  doCheck = false;
  pythonImportsCheck = [
    "spyne"
    "spyne.protocol.soap"
  ];

  meta = {
    description = "Transport- and architecture-agnostic RPC library (SOAP 1.1 server for housify-soap)";
    homepage = "http://spyne.io/";
    license = lib.licenses.lgpl21Plus;
  };
}
