# nixpkgs overlay: spyne, the Python updates of python-deps.nix and the Housify
# packages, on nixpkgs' default python3 (3.13 on nixos-25.11: spyne imports
# there through housify_soap.spyne_compat, with legacy-cgi for `cgi`).
# Used by the flake's packages, its NixOS modules and the VM test, so a host's
# pkgs (with its own config.cudaSupport) builds the CUDA variant of housify-ai.
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
  deps = import ./python-deps.nix;

  # A newer release from PyPI, only while nixpkgs' own is older.
  update =
    pyFinal: pyPrev: name: u:
    let
      old = pyPrev.${name};
      wheel = u.format == "wheel";
    in
    if builtins.compareVersions old.version u.version >= 0 then
      old
    else
      old.overridePythonAttrs (
        attrs:
        {
          inherit (u) version;
          src = pyFinal.fetchPypi (
            {
              pname = name;
              inherit (u) version hash;
            }
            // lib.optionalAttrs wheel {
              format = "wheel";
              dist = "py3";
              python = "py3";
            }
          );
          dependencies = (attrs.dependencies or [ ]) ++ map (n: pyFinal.${n}) (u.extraDependencies or [ ]);
          # nixpkgs' recipe runs its tests from the GitHub tree; the PyPI file differs.
          doCheck = false;
          meta = (attrs.meta or { }) // {
            changelog = "https://pypi.org/project/${name}/${u.version}/";
          };
        }
        // lib.optionalAttrs wheel {
          pyproject = null;
          format = "wheel";
        }
      );

  python = prev.python3.override {
    self = python;
    packageOverrides =
      pyFinal: pyPrev:
      {
        spyne = pyFinal.callPackage ./spyne.nix { spyneCompat = ../../src/housify_soap/spyne_compat.py; };
      }
      // lib.mapAttrs (update pyFinal pyPrev) deps.updates;
  };
  housify =
    component:
    final.callPackage ./housify.nix {
      inherit src component deps;
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
# The built web app (buildNpmPackage, nixos/packages/web.nix), which nginx
# serves (services.housify.web.package), once that file is there.
// lib.optionalAttrs (builtins.pathExists ./web.nix) { housify-web = final.callPackage ./web.nix { }; }
