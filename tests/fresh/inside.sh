#!/bin/bash
# Runs inside the bare Debian 12 root that tests/fresh/fresh_machine.sh builds, as root, in the
# clone given as $1: the README's commands, in a new user's order. Prints "FRESH-TIME <step>
# <seconds>" per step and "FRESH-FAIL <what>" per failed check; exit 1 when one failed.
set -uo pipefail
cd "$1"
failed=0
fail() { echo "FRESH-FAIL $*"; failed=1; }
elapsed() { echo "FRESH-TIME $1 $(($(date +%s) - $2))"; }
show() { echo "--- $1 (last lines)"; tail -n "${2:-40}" "$1" | grep -v 'is ignored: it is neither a file nor a directory'; }
logs=/tmp/fresh-logs
mkdir -p "$logs"

# 1. A user without root on a machine that lacks a library: scripts/bootstrap stops at once,
#    before any install, printing the one command to run.
start=$(date +%s)
setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp timeout 120 scripts/bootstrap >"$logs/user.log" 2>&1
rc=$?
elapsed bootstrap-as-user "$start"
if [ "$rc" = 0 ] || ! grep -qE 'apt-get install -y .*libvulkan1' "$logs/user.log"; then
  fail "scripts/bootstrap as a user without libvulkan1 did not stop printing 'apt-get install ... libvulkan1' (rc=$rc)"
  show "$logs/user.log" 10
fi
[ -e .venv ] && fail "scripts/bootstrap as a user left .venv behind"

# 2. As root: scripts/bootstrap installs the missing Debian package itself, then the lock.
start=$(date +%s)
timeout 900 scripts/bootstrap >"$logs/bootstrap.log" 2>&1
rc=$?
elapsed bootstrap "$start"
[ "$rc" = 0 ] || { fail "scripts/bootstrap as root: rc=$rc"; show "$logs/bootstrap.log"; }
dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q 'install ok installed' ||
  fail "scripts/bootstrap as root did not install libvulkan1"

# 3. scripts/run: wait for its URL and /health.
read -r port ai_port soap_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
start=$(date +%s)
scripts/run --port "$port" --ai-port "$ai_port" --soap-port "$soap_port" >"$logs/run.log" 2>&1 &
run=$!
url=
for _ in $(seq 600); do
  kill -0 "$run" 2>/dev/null || break
  url=$(grep -m1 -oE '^  API +http://[0-9.:]+' "$logs/run.log" | awk '{print $2}')
  if [ -n "$url" ] && python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/health', timeout=5)" "$url" 2>/dev/null; then
    break
  fi
  url=
  sleep 1
done
elapsed first-url "$start"
if [ -z "$url" ]; then
  if kill -0 "$run" 2>/dev/null; then
    fail "scripts/run printed no URL that answered /health within 10 minutes"
  else
    fail "scripts/run exited before its URL answered /health"
  fi
  show "$logs/run.log"
else
  # 4. The whole story with the example client, the prompt assistant first.
  start=$(date +%s)
  timeout 300 .venv/bin/python examples/client.py --base-url "$url" --out /tmp/picture.png >"$logs/client.log" 2>&1
  rc=$?
  elapsed story "$start"
  sed 's/^/  client| /' "$logs/client.log" | tr '\r' '\n' | grep -v 'step [0-9]*/[0-9]*$'
  [ "$rc" = 0 ] || fail "examples/client.py: rc=$rc"
  grep -q '^  prompt: ' "$logs/client.log" || fail "the prompt assistant did not answer the first call"
  grep -q '^picture saved to' "$logs/client.log" || fail "the story drew no picture"
  grep -q '^featured gallery:' "$logs/client.log" || fail "the story did not reach the featured gallery"
  kill -0 "$run" 2>/dev/null || fail "the standalone stopped during the story"
  # a browser's request for / gets the web app (bootstrap built it with the lent Node.js)
  grep -q 'Node.js >= 20.19 with npm not found' "$logs/bootstrap.log" && fail "scripts/bootstrap found no Node.js >= 20.19"
  python3 -c "
import urllib.request, sys
request = urllib.request.Request(sys.argv[1] + '/', headers={'Accept': 'text/html'})
with urllib.request.urlopen(request, timeout=10) as r:
    sys.exit(r.headers.get_content_type() != 'text/html')" "$url" || fail "/ serves no web app to a browser (text/html)"
  [ "$failed" = 0 ] || show "$logs/run.log"
fi
kill -INT "$run" 2>/dev/null
for _ in $(seq 30); do kill -0 "$run" 2>/dev/null || break; sleep 1; done
kill -KILL "$run" 2>/dev/null

# 5. The unit tier, as the README says.
start=$(date +%s)
timeout 600 scripts/test tests/unit -q -p no:cacheprovider >"$logs/unit.log" 2>&1
rc=$?
elapsed unit-tests "$start"
tail -n 1 "$logs/unit.log"
[ "$rc" = 0 ] || { fail "scripts/test tests/unit: rc=$rc"; show "$logs/unit.log" 30; }

exit "$failed"
