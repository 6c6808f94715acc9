# nixpkgs overlay: spyne for Python 3.12 and the three Housify packages.
# Used by the flake's packages, its NixOS modules and the VM test, so a host's
# pkgs (with its own config.cudaSupport) builds the CUDA variant of housify-ai.
final: prev:
let
  src = final.lib.fileset.toSource {
    root = ../..;
    fileset = final.lib.fileset.unions [
      ../../pyproject.toml
      ../../README.md
      ../../src
    ];
  };
  python = prev.python312.override {
    self = python;
    packageOverrides = pyFinal: pyPrev: {
      spyne = pyFinal.callPackage ./spyne.nix { };
    };
  };
  housify =
    component:
    final.callPackage ./housify.nix {
      inherit src component;
      python3Packages = python.pkgs;
    };
in
{
  housifyPython = python;
  housify-api = housify "api";
  housify-ai = housify "ai";
  housify-soap = housify "soap";
  housify = housify "all"; # `housify standalone`: everything in one process
  housify-dev-services = final.callPackage ./dev-services.nix { };
}
