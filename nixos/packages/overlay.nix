# nixpkgs overlay: the lock's Python closure on python312 (python.nix), the Housify packages
# built on it, the dev services and the web app. Used by the flake's packages, its NixOS
# modules and the VM test. It sets no nixpkgs.config: the GPU hosts' CUDA torch is the lock's
# own wheel (with its nvidia-* wheels), which needs only the driver.
final: prev:
let
  inherit (final) lib;
  src = lib.fileset.toSource {
    root = ../..;
    fileset = lib.fileset.unions [
      ../../pyproject.toml
      ../../README.md
      ../../src
    ];
  };
  housify =
    component:
    final.callPackage ./housify.nix {
      inherit src component;
    };
in
{
  housifyPython = final.callPackage ./python.nix { };
  housify-api = housify "api";
  housify-ai = housify "ai";
  housify-soap = housify "soap";
  housify = housify "all"; # `housify standalone`: everything in one process
  housify-dev-services = final.callPackage ./dev-services.nix { };
  # The built web app (buildNpmPackage), which nginx serves (services.housify.web.package).
  housify-web = final.callPackage ./web.nix { };
}
