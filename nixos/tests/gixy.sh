#!/usr/bin/env bash
# .ci/run (network: installs the analyzer): gixy-ng, the maintained nginx analyzer, on the edge
# host's nginx text as nixos/lib/render-nginx.nix renders it with every part on (web app,
# SOAP, S3 store with its public signed-URL location, ACME, AI proxy, metrics allow-list,
# HTTP/3 on nixos-25.11's nginx 1.28). Any finding fails CI, except these two, each justified:
#
#   proxy_pass_normalized   /_media_s3/ and /media/s3/ proxy with a path (`proxy_pass
#       <endpoint>/`), so nginx forwards the decoded, normalised path. The object keys are the
#       API's own (`images/<uuid>.<ext>`, `thumbs/<uuid>.webp`): nothing in them is percent-encoded,
#       so normalising changes nothing for a genuine URL; the presigned query goes on untouched
#       ($args), and the store checks the signature against the path it receives, so a path that
#       normalises elsewhere (%2F..%2F) gets the store's 403, never another object.
#   worker_rlimit_nofile_vs_connections   about the main/events context, which nixpkgs'
#       services.nginx writes, not the rendered http text (this script's wrapper stands in for it).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check gixy-ng==0.2.59
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=housify.test \
  -keyout "$tmp/tls.key" -out "$tmp/tls.crt" 2>/dev/null
cat >"$tmp/params.json" <<JSON
{"serverName": "housify.test", "apiUpstreams": ["127.0.0.1:8100", "127.0.0.1:8101"],
 "tlsCertificate": "$tmp/tls.crt", "tlsCertificateKey": "$tmp/tls.key", "clientMaxBodySize": "1000M",
 "nginxVersion": "1.28.0", "http3": true, "soapUpstream": "127.0.0.1:8300", "webRoot": "/srv/web",
 "s3Endpoint": "http://127.0.0.1:3900", "acmeChallengeRoot": "/var/lib/acme/acme-challenge",
 "aiUpstreams": ["10.0.1.20:8200"], "aiProxyListen": "127.0.0.1:8280", "metricsAllow": ["10.0.1.0/24"]}
JSON
nix-instantiate --eval --strict --json \
  -E "import ./nixos/lib/render-nginx.nix (builtins.fromJSON (builtins.readFile $tmp/params.json))" |
  python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' >"$tmp/http.conf"
printf 'events { worker_connections 1024; }\nhttp {\n    include %s/http.conf;\n}\n' "$tmp" >"$tmp/nginx.conf"
"$tmp/venv/bin/gixy" --skips proxy_pass_normalized,worker_rlimit_nofile_vs_connections "$tmp/nginx.conf"
