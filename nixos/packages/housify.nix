# The Housify Python project (pyproject.toml at the repository root) built with
# nixpkgs' Python packages (overlay.nix: the default python3). One source, packages that differ in their
# dependency closure and main program:
#   housify-api, housify-soap  -> pyproject's dependencies
#   housify-ai, housify        -> plus the `ai` extra (torch, diffusers, llama.cpp)
# The dependency lists are read from pyproject.toml (requirements.nix maps
# requirement strings to nixpkgs packages and stops evaluation on any
# difference python-deps.nix does not name with a reason), so they cannot drift.
{
  lib,
  python3Packages,
  src,
  component,
  # python-deps.nix: the named, explained differences from pyproject.toml.
  deps,
  withAI ? component == "ai" || component == "all",
  # The CUDA build of torch and llama.cpp follow nixpkgs' config.cudaSupport
  # (set by `services.housify-ai.gpu.enable` on GPU hosts).
  cudaSupport ? python3Packages.torch.cudaSupport or false,
}:

let
  ps = python3Packages;
  pyproject = lib.importTOML (src + "/pyproject.toml");
  requirements = import ./requirements.nix { inherit lib; };
  # nixpkgs attributes that differ from the plain PyPI name: the CUDA variants.
  special = {
    torch = if cudaSupport then ps.torchWithCuda else ps.torch;
    llama-cpp-python = ps.llama-cpp-python.override { inherit cudaSupport; };
  };
  resolve =
    list:
    requirements.resolve {
      inherit ps deps special;
      inherit (ps.python) pythonVersion;
      requirements = list;
    };
  runtime = resolve (
    pyproject.project.dependencies ++ lib.optionals withAI pyproject.project.optional-dependencies.ai
  );
  tests = resolve pyproject.project.optional-dependencies.test;
  runtimeDependencies = runtime.packages;
  testDependencies = tests.packages;
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

  dependencies = runtimeDependencies;

  # Only the floors python-deps.nix waives, each with its reason there.
  pythonRelaxDeps = runtime.relaxed;

  nativeCheckInputs = [ ps.pytestCheckHook ] ++ testDependencies;
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
    inherit
      cudaSupport
      withAI
      runtimeDependencies
      testDependencies
      ;
  };

  meta = {
    inherit (pyproject.project) description;
    homepage = "https://github.com/housify/housify";
    mainProgram = mainPrograms.${component};
    platforms = lib.platforms.linux;
  };
}
