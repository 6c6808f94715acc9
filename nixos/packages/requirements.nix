# PEP 508 requirement strings of pyproject.toml -> nixpkgs Python packages, so
# the Nix packages follow pyproject.toml (one list of dependencies), and every
# way the two can disagree stops evaluation with a message instead of being
# papered over:
#   - a name nixpkgs does not have (unless listed in python-deps.nix
#     `notPackaged`, with a reason),
#   - an extra the nixpkgs package does not declare (no silent `or [ ]`),
#   - a nixpkgs version below pyproject.toml's floor (unless python-deps.nix
#     updates it, or relaxes it with a reason),
#   - an environment marker this file cannot evaluate.
#
#   parse "uvicorn[standard]>=0.30"        -> { name = "uvicorn"; extras = [ "standard" ]; floor = "0.30"; marker = null; }
#   parse "prometheus_client"              -> { name = "prometheus-client"; extras = [ ]; floor = null; marker = null; }
#   parse "legacy-cgi>=2.6; python_version >= '3.13'" -> { ...; marker = "python_version >= '3.13'"; }
# nixpkgs names Python packages by their normalised PyPI name (PEP 503:
# lower case, runs of "-", "_", "." become "-").
{ lib }:

rec {
  parse =
    requirement:
    let
      m = builtins.match "[[:space:]]*([A-Za-z0-9][A-Za-z0-9._-]*)[[:space:]]*(\\[([^]]*)])?([^;]*)(;(.*))?" requirement;
      spec = lib.elemAt m 3;
      floorMatch = builtins.match ".*(>=|==|~=)[[:space:]]*([0-9][0-9A-Za-z.]*).*" spec;
      marker = lib.elemAt m 5;
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
        floor = if floorMatch == null then null else lib.elemAt floorMatch 1;
        marker = if marker == null || lib.trim marker == "" then null else lib.trim marker;
      };

  /**
    Whether a requirement's marker holds for `pythonVersion` ("3.13.1").
    Only `python_version <op> 'X.Y'` is understood; anything else throws,
    so a new kind of marker cannot be silently ignored.
  */
  markerHolds =
    pythonVersion: requirement: marker:
    let
      m = builtins.match "python_version[[:space:]]*(>=|<=|==|!=|<|>)[[:space:]]*[\"']([0-9.]+)[\"']" marker;
      cmp = builtins.compareVersions (lib.versions.majorMinor pythonVersion) (lib.elemAt m 1);
      op = lib.elemAt m 0;
    in
    if marker == null then
      true
    else if m == null then
      throw "pyproject.toml: the marker of ${builtins.toJSON requirement} is not `python_version <op> 'X.Y'`; teach nixos/packages/requirements.nix about it"
    else
      {
        ">=" = cmp >= 0;
        "<=" = cmp <= 0;
        "==" = cmp == 0;
        "!=" = cmp != 0;
        "<" = cmp < 0;
        ">" = cmp > 0;
      }
      .${op};

  /**
    The nixpkgs packages for a list of requirement strings.
      ps            the Python package set (python.pkgs)
      pythonVersion its interpreter's version (markers)
      special       { name = package; } used instead of ps.<name> (e.g. CUDA torch)
      deps          python-deps.nix: { relax, notPackaged, updates }
    Returns { packages; relaxed; } where relaxed lists the names whose
    version floor is waived (pythonRelaxDeps).
  */
  resolve =
    {
      ps,
      pythonVersion,
      requirements,
      special ? { },
      deps,
    }:
    let
      one =
        requirement:
        let
          r = parse requirement;
          where = "pyproject.toml requirement ${builtins.toJSON requirement}";
          pkg =
            if special ? ${r.name} then
              special.${r.name}
            else if ps ? ${r.name} then
              ps.${r.name}
            else
              throw "${where}: nixpkgs has no Python package `${r.name}`; package it in nixos/packages, or list it in python-deps.nix `notPackaged` with the reason it can be left out";
          version = pkg.version or null;
          tooOld = r.floor != null && version != null && builtins.compareVersions version r.floor < 0;
          extra =
            name:
            pkg.optional-dependencies.${name}
              or (throw "${where}: nixpkgs' ${r.name} declares no extra `${name}` (optional-dependencies); list its packages in python-deps.nix `extras`");
          extraPackages = lib.concatMap (
            name: deps.extras."${r.name}[${name}]" or (extra name)
          ) r.extras;
        in
        if !(markerHolds pythonVersion requirement r.marker) || deps.notPackaged ? ${r.name} then
          {
            packages = [ ];
            relaxed = [ ];
          }
        else if tooOld && !(deps.relax ? ${r.name}) then
          throw "${where}: nixpkgs' ${r.name} is ${version}, below the floor ${r.floor}; add an update in nixos/packages/python-deps.nix `updates`, or relax it there with the reason it is safe"
        else
          {
            packages = [ pkg ] ++ extraPackages;
            relaxed = lib.optional (deps.relax ? ${r.name}) r.name;
          };
      all = map one requirements;
    in
    {
      packages = lib.concatMap (x: x.packages) all;
      relaxed = lib.concatMap (x: x.relaxed) all;
    };
}
