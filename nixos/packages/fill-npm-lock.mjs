// Fill `resolved` in an npm lockfile (v2/v3) from a registry URL, in place:
//   node fill-npm-lock.mjs <package-lock.json> <registry>
// web/package-lock.json carries no `resolved` (npm's omit-lockfile-registry-resolved, so no
// registry host is committed); nixpkgs' fetchNpmDeps needs one per tarball. Each registry
// entry gets `<registry>/<name>/-/<basename>-<version>.tgz`, the URL npm itself uses for a
// registry tarball; `integrity` is kept and still checked by the fetcher and by npm. An entry
// with no version or no integrity stops with its path (nothing is filled unchecked).
import { readFileSync, writeFileSync } from "node:fs";

const [file, registryArg] = process.argv.slice(2);
if (!file || !registryArg) {
  console.error("usage: node fill-npm-lock.mjs <package-lock.json> <registry>");
  process.exit(2);
}
const registry = registryArg.replace(/\/+$/, "");
const lock = JSON.parse(readFileSync(file, "utf8"));
if (!lock.packages) {
  console.error(`${file}: lockfileVersion ${lock.lockfileVersion} has no "packages" (need npm 7+)`);
  process.exit(1);
}
let filled = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === "" || entry.link || entry.inBundle || entry.resolved) continue;
  const name = entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
  if (!entry.version || !entry.integrity) {
    console.error(`${file}: ${path} has no ${entry.version ? "integrity" : "version"}; cannot fill it`);
    process.exit(1);
  }
  entry.resolved = `${registry}/${name}/-/${name.split("/").pop()}-${entry.version}.tgz`;
  filled += 1;
}
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
console.error(`${file}: filled ${filled} resolved URLs from ${registry}`);
