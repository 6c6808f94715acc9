# The Housify Python project (pyproject.toml at the repository root) on the lock's closure
# (python.nix: every release at the lock's version, on python312). One source, packages that
# differ in their closure and main program:
#   housify-api, housify-soap  -> pyproject's base dependencies ("api")
#   housify-ai, housify        -> plus the `ai` and `mlsd` extras (torch with its CUDA wheels,
#                                 diffusers, llama.cpp, the upscaler, controlnet-aux)
# The closures are closure.json's components, which closure.py computes from the locked
# files' own metadata and tests/nix checks against the lock and pyproject.toml.
{
  lib,
  housifyPython,
  src,
  component,
}:

let
  inherit (housifyPython) python locked closure;
  ps = python.pkgs;
  pyproject = lib.importTOML (src + "/pyproject.toml");
  withAI = component == "ai" || component == "all";
  components = [ "api" ] ++ lib.optionals withAI [
    "ai"
    "mlsd"
  ];
  pick = names: map (n: locked.${n}) names;
  runtimeNames = closure.namesFor components;
  # the test extra's own releases (the runtime ones are already there)
  testNames = lib.subtractLists runtimeNames (closure.namesFor [ "test" ]);
  mainPrograms = {
    api = "housify-api";
    ai = "housify-ai";
    soap = "housify-soap";
    all = "housify";
  };
in
assert lib.assertOneOf "component" component (lib.attrNames mainPrograms);
ps.buildPythonApplication {
  pname = "housify-${component}";
  inherit (pyproject.project) version;
  pyproject = true;
  inherit src;

  build-system = [
    ps.setuptools
    ps.wheel
  ];

  dependencies = pick runtimeNames;

  nativeCheckInputs = [ ps.pytestCheckHook ] ++ pick testNames;
  # The test suite needs PostgreSQL and Redis servers; it runs in the VM test
  # and in `nix develop -c scripts/test`, not in the sandbox.
  doCheck = false;

  pythonImportsCheck = [
    "housify_common"
    "housify_api"
    "housify_soap"
    # imports spyne through housify_soap.spyne_compat (the Python 3.12+ fix)
    "housify_soap.service"
  ]
  ++ lib.optionals withAI [ "housify_ai" ];

  passthru = {
    inherit withAI components;
    runtimeDependencies = pick runtimeNames;
    testDependencies = pick testNames;
  };

  meta = {
    inherit (pyproject.project) description;
    homepage = "https://github.com/housify/housify";
    mainProgram = mainPrograms.${component};
    platforms = [ "x86_64-linux" ];
  };
}
