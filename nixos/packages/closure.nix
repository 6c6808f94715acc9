# closure.json (generated from the lock by closure.py) as Nix reads it; needs only lib, so
# tests/nix evaluates exactly this offline. For one system:
#   python               "3.12": the interpreter the lock's wheels were chosen for (python312)
#   releases.<name>      { version; source = "wheel" | "sdist" | "nixpkgs"; components;
#                          fetchPypi = the arguments of nixpkgs' fetchPypi, or null for nixpkgs }
#   namesFor [ "api" "ai" ]  the releases those components need (pyproject.toml's base
#                          dependencies = "api", its extras by name), sorted
# A system closure.json has no files for throws with what to do.
{ lib, system }:

let
  closure = lib.importJSON ./closure.json;
  known = lib.unique (lib.concatMap (p: p.systems) (lib.attrValues closure.packages));
  here = lib.filterAttrs (_: p: lib.elem system p.systems) closure.packages;
  fetchArgs =
    p:
    if p.source == "wheel" then
      p.wheels.${system} // { format = "wheel"; }
    else if p.source == "sdist" then
      {
        inherit (p.sdist)
          pname
          version
          extension
          hash
          ;
      }
    else
      null;
in
if !(lib.elem system known) then
  throw "nixos/packages/closure.json has no files for ${system} (only ${lib.concatStringsSep ", " known}); add it to SYSTEMS in nixos/packages/closure.py and regenerate"
else
  {
    inherit (closure) python lock;
    releases = lib.mapAttrs (
      _: p:
      {
        inherit (p) version source components;
        fetchPypi = fetchArgs p;
      }
    ) here;
    namesFor =
      components:
      lib.sort lib.lessThan (
        lib.attrNames (lib.filterAttrs (_: p: lib.any (c: lib.elem c p.components) components) here)
      );
  }
