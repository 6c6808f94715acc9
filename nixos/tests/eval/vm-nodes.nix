# The VM test's node configurations (nixos/tests/vm.nix) evaluated with the
# stand-ins: the test's own settings must pass every module assertion, even
# where the VM test itself cannot run (no nixpkgs).
{ lib }:

let
  extraPackages = [
    "curl"
    "file"
    "netcat"
    "python3"
    "openssl"
  ];
  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  hostPkgs = lib.genAttrs extraPackages fake // {
    runCommand = name: _env: _script: fake name;
  };
  test = import ../vm.nix {
    inherit lib;
    config = { inherit hostPkgs; };
  };
in
lib.mapAttrs (
  _: node:
  import ./. {
    inherit lib extraPackages;
    modules = [
      test.defaults
      node
    ];
  }
) test.nodes
