# The Housify Python project (pyproject.toml at the repository root) built with
# nixpkgs' Python 3.12 packages. One source, packages that differ in their
# dependency closure and main program:
#   housify-api, housify-soap  -> pyproject's dependencies
#   housify-ai, housify        -> plus the `ai` extra (torch, diffusers, llama.cpp)
# The dependency lists are read from pyproject.toml (requirements.nix maps
# requirement strings to nixpkgs attribute names), so they cannot drift.
# spyne imports `cgi`, removed in Python 3.13, hence python312.
{
  lib,
  python3Packages,
  src,
  component,
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
  # A requirement with its extras' dependencies (nixpkgs' optional-dependencies).
  fromRequirement =
    requirement:
    let
      r = requirements.parse requirement;
      pkg = special.${r.name} or ps.${r.name};
    in
    [ pkg ] ++ lib.concatMap (extra: pkg.optional-dependencies.${extra} or [ ]) r.extras;
  fromList = lib.concatMap fromRequirement;

  runtimeDependencies = fromList (
    pyproject.project.dependencies ++ lib.optionals withAI pyproject.project.optional-dependencies.ai
  );
  testDependencies = fromList pyproject.project.optional-dependencies.test;
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

  # nixpkgs' versions may differ in patch level from the bounds in
  # pyproject.toml (torch is pinned there for pip users only).
  pythonRelaxDeps = true;

  nativeCheckInputs = [ ps.pytestCheckHook ] ++ testDependencies;
  # The test suite needs PostgreSQL and Redis servers; it runs in the VM test
  # and in `nix develop -c scripts/test`, not in the sandbox.
  doCheck = false;

  pythonImportsCheck = [
    "housify_common"
    "housify_api"
    "housify_soap"
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
