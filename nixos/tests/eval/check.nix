# checks.<system>.modules-eval: evaluates the Housify modules, both hosts and the Python
# packages' arguments (packages.nix)
# against nixpkgs' lib with the stand-in option declarations, and requires
# that known-bad configurations fail (wrong type, failed assertion). Needs
# only lib, so it also runs in `nix flake check --no-build --override-input
# nixpkgs <nixpkgs.lib clone>`. The derivation records the results; building
# it needs nothing but /bin/sh.
{ lib, system }:

let
  evaluate = args: import ./. ({ inherit lib; } // args);
  fails = args: !(builtins.tryEval (builtins.deepSeq (evaluate args) true)).success;
  cases = import ./cases.nix { inherit lib; };

  results = {
    # The example hosts as shipped (their LAN MAC is a placeholder, with a warning).
    hosts = lib.genAttrs [ "edge" "gpu" ] (host: (evaluate { modules = [ ../../hosts/${host} ]; }).units);
    vm-nodes = lib.mapAttrs (_: node: node.units) (import ./vm-nodes.nix { inherit lib; });
    # The Python packages on stand-ins of nixpkgs' builders (each package's locked closure).
    python-packages = lib.mapAttrs (_: p: p.dependencies) (import ./packages.nix { inherit lib; }).packages;
    good = lib.mapAttrs (_: configuration: (evaluate { inherit configuration; }).units) cases.good;
    bad = lib.mapAttrs (
      name: case:
      if fails { inherit (case) configuration; } then
        "fails as expected"
      else
        throw "modules-eval: the bad configuration '${name}' evaluated without error"
    ) cases.bad;
  };
in
builtins.derivation {
  name = "housify-modules-eval";
  inherit system;
  builder = "/bin/sh";
  args = [
    "-c"
    "echo \"$summary\" > \"$out\""
  ];
  summary = builtins.toJSON results;
}
