# spyne is not in nixpkgs; packaged from its sdist (no wheel is published), the release
# and hash of the lock (python.nix passes `src` from closure.json), unmodified, exactly as
# pip installs it. It imports on Python 3.12+ only
# through housify_soap.spyne_compat (its bundled six lacks find_spec); the
# install check below loads that very file, so the one fix pip users get is
# what this build is checked with.
{
  lib,
  buildPythonPackage,
  setuptools,
  python,
  version,
  src,
  # pytz, lxml (and legacy-cgi on 3.13+) of the lock's closure
  dependencies,
  # src/housify_soap/spyne_compat.py of the Housify checkout.
  spyneCompat,
}:

buildPythonPackage {
  pname = "spyne";
  inherit version src dependencies;
  pyproject = true;

  # setup.py imports setuptools.command.test, which setuptools 72 removed; the
  # custom `test` command is only for spyne's own tox runs, so drop it.
  postPatch = ''
    substituteInPlace setup.py \
      --replace-fail "from setuptools.command.test import test as TestCommand" \
                     "class TestCommand: user_options = []" \
      --replace-fail "'test': RunTests," ""
  '';

  build-system = [ setuptools ];

  # The test suite needs twisted, pyramid, django and network fixtures.
  doCheck = false;
  # `import spyne` alone fails on 3.12+ (see above): import it the way
  # housify_soap does, through the compat finder.
  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    PYTHONPATH="$out/${python.sitePackages}:${lib.concatMapStringsSep ":" (d: "${d}/${python.sitePackages}") dependencies}:$PYTHONPATH" ${python.interpreter} -c '
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
