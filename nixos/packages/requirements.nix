# PEP 508 requirement strings of pyproject.toml -> nixpkgs Python attribute
# names, so the Nix packages follow pyproject.toml (one list of dependencies).
#   parse "uvicorn[standard]>=0.30"  -> { name = "uvicorn"; extras = [ "standard" ]; }
#   parse "pyjwt[crypto]>=2.10"      -> { name = "pyjwt"; extras = [ "crypto" ]; }
#   parse "prometheus_client"        -> { name = "prometheus-client"; extras = [ ]; }
# nixpkgs names Python packages by their normalised PyPI name (PEP 503:
# lower case, runs of "-", "_", "." become "-").
{ lib }:

{
  parse =
    requirement:
    let
      m = builtins.match "[[:space:]]*([A-Za-z0-9][A-Za-z0-9._-]*)[[:space:]]*(\\[([^]]*)])?.*" requirement;
    in
    if m == null then
      throw "pyproject.toml: cannot parse the requirement ${builtins.toJSON requirement}"
    else
      {
        name = lib.toLower (
          lib.concatStringsSep "-" (lib.filter (s: lib.isString s && s != "") (builtins.split "[-_.]+" (lib.elemAt m 0)))
        );
        extras =
          if lib.elemAt m 2 == null then
            [ ]
          else
            lib.filter (e: e != "") (map lib.trim (lib.splitString "," (lib.elemAt m 2)));
      };
}
