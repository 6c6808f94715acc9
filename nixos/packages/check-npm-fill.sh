#!/usr/bin/env bash
# .ci/run (network): the lock web.nix builds from is installable. Fills web/package-lock.json's
# `resolved` from npm's configured registry (fill-npm-lock.mjs, as web.nix's postPatch does),
# then lets npm itself install (recording the URLs it used: --omit-lockfile-registry-resolved=false) that lock into an empty directory with an empty cache: every
# filled URL must download and match its `integrity`, and npm must keep each URL as filled.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp web/package.json web/package-lock.json "$tmp/"
node nixos/packages/fill-npm-lock.mjs "$tmp/package-lock.json" "$(npm config get registry)"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --omit-lockfile-registry-resolved=false --cache "$tmp/.cache" >/dev/null)
node -e '
  const fs = require("fs");
  const want = JSON.parse(fs.readFileSync(process.argv[1] + "/package-lock.json")).packages;
  const got = JSON.parse(fs.readFileSync(process.argv[1] + "/node_modules/.package-lock.json")).packages;
  const bad = Object.keys(want).filter((p) => p && want[p].resolved && got[p] && got[p].resolved !== want[p].resolved);
  const missing = Object.keys(want).filter((p) => p && !want[p].dev && !got[p]);
  if (bad.length || missing.length) {
    console.error("npm installed other URLs than the filled lock: " + bad.slice(0, 5).join(", ") + " missing: " + missing.slice(0, 5).join(", "));
    process.exit(1);
  }
  console.error("npm installed all " + Object.keys(got).length + " entries from the filled lock (integrity checked)");
' "$tmp"
