#!/usr/bin/env bash
# The README on a bare Debian 12 machine: CI runs it (as root) from .ci/run as
#
#   flock /tmp/fresh.lock tests/fresh/fresh_machine.sh
#
# 1. Builds a Debian 12 root with mmdebstrap (the mirror: this machine's own apt sources) holding
#    the packages the README's `apt-get install` line names, less libvulkan1: scripts/bootstrap must
#    notice it missing and install it (as root) or stop at once printing the command (as a user).
# 2. Puts a clean clone of this checkout's HEAD in it (HOUSIFY_FRESH_REV=<commit> tests another).
# 3. In a mount and PID namespace, chrooted, runs tests/fresh/inside.sh: the README's commands
#    (scripts/bootstrap, scripts/run, examples/client.py through the whole story, assistant first,
#    scripts/test tests/unit).
#
# Lent by the machine, bind-mounted (they belong to the machine, not to the project): pip's
# configuration and the local folders it names (find-links, file:// indexes: the CPU torch), pip's
# cache (read-write: the compiled llama-cpp-python wheel, so no 10-minute compile), the CA bundle
# SSL_CERT_FILE names, Node.js and npm with ~/.npmrc and npm's cache, /etc/resolv.conf. The root
# shares the machine's network: pip, apt and npm reach their registries, and tests/unit reaches the
# PostgreSQL and Redis on 127.0.0.1.
#
# Prints "FRESH-TIME <step> <seconds>" for each step and "FRESH-FAIL <what>" for each failed check;
# exits 1 when a check failed. The root (~3 GB with .venv) is deleted afterwards unless
# HOUSIFY_FRESH_KEEP=1. Needs root, mmdebstrap, unshare and chroot; about 5-10 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "fresh: needs root (mmdebstrap, chroot, mounts)" >&2; exit 2; }
command -v mmdebstrap >/dev/null || { echo "fresh: needs Debian's mmdebstrap (apt-get install mmdebstrap)" >&2; exit 2; }

rev=$(git -C "$repo" rev-parse "${HOUSIFY_FRESH_REV:-HEAD}")
work=$(mktemp -d /tmp/housify-fresh.XXXXXX)
root=$work/root
cleanup() {
  if [ "${HOUSIFY_FRESH_KEEP:-}" = 1 ]; then
    echo "fresh: kept $work" >&2
  elif ! grep -qF " $work/" /proc/self/mounts; then  # nothing left mounted in there: safe to delete
    rm -rf "$work"
  fi
}
trap cleanup EXIT
elapsed() { echo "FRESH-TIME $1 $(($(date +%s) - $2))"; }

# --- the mirror: this machine's Debian 12 sources (deb822 stanzas or one-line entries) ---
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  awk -v RS= -v ORS='\n\n' '/(^|\n)Types:[^\n]*deb([ \n]|$)/ && /(^|\n)Suites:[^\n]*bookworm/' "$f"
done >"$work/debian.sources"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  if [ -f "$f" ]; then awk '$1 == "deb" && $0 ~ /[ \t]bookworm[^ \t]*[ \t]/' "$f"; fi
done >"$work/debian.list"
mirrors=()
[ -s "$work/debian.sources" ] && mirrors+=("$work/debian.sources")
[ -s "$work/debian.list" ] && mirrors+=("$work/debian.list")
[ ${#mirrors[@]} -gt 0 ] || { echo "fresh: this machine's apt sources name no Debian 12 (bookworm) mirror" >&2; exit 2; }

# --- the clean clone and the README's prerequisites ---
git clone --quiet --no-checkout "$repo" "$work/housify"
git -C "$work/housify" -c advice.detachedHead=false checkout --quiet "$rev"
echo "fresh: testing $(git -C "$work/housify" log -1 --format='%h %s' | cut -c1-100)"
line=$(grep -m1 -E '^\s*(sudo )?apt-get install ' "$work/housify/README.md" || true)
if [ -n "$line" ]; then
  read -ra words <<<"${line#*apt-get install }"
  packages=()
  for word in "${words[@]}"; do
    case "$word" in -*) ;; *) packages+=("$word") ;; esac
  done
else
  # a README without the command: what its prose asks for (Python with venv, a compiler, CMake)
  echo "FRESH-FAIL the README names no 'apt-get install' command for a bare machine"
  packages=(python3 python3-venv build-essential cmake)
fi
include=()
for p in "${packages[@]}"; do [ "$p" = libvulkan1 ] || include+=("$p"); done
echo "fresh: the root gets ${include[*]} (the README's list less libvulkan1, which scripts/bootstrap must add)"

start=$(date +%s)
# dpkg without fsync and without documentation: the root is thrown away after the test
mmdebstrap --quiet --variant=apt --include="$(IFS=,; echo "${include[*]}")" --dpkgopt=force-unsafe-io \
  --dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/doc/* \
  --dpkgopt=path-exclude=/usr/share/locale/* bookworm "$root" "${mirrors[@]}"
elapsed root-build "$start"
mkdir -p "$root/srv"
mv "$work/housify" "$root/srv/housify"
install -m 755 "$here/inside.sh" "$root/usr/local/sbin/housify-fresh-inside"

# --- what the machine lends: bind mounts, set up inside the namespace below ---
binds=()   # "source target [ro]"
lend() { [ -e "$1" ] && binds+=("$1|${2:-$1}|${3:-ro}"); return 0; }
lend /etc/resolv.conf
lend /etc/pip.conf
lend /etc/xdg/pip
lend "$HOME/.config/pip" /root/.config/pip
mkdir -p "$HOME/.cache/pip" && lend "$HOME/.cache/pip" /root/.cache/pip rw
# local folders pip's configuration names (find-links, file:// indexes; an index's files lie beside simple/)
for value in $(python3 -m pip config list 2>/dev/null | sed -E "s/^[^=]*='(.*)'$/\1/") ${PIP_FIND_LINKS:-} ${PIP_EXTRA_INDEX_URL:-} ${PIP_INDEX_URL:-}; do
  path=${value#file://}
  [ "${path:0:1}" = / ] && [ -d "$path" ] || continue
  [ "$(basename "$path")" = simple ] && path=$(dirname "$path")
  lend "$path"
done
if [ -n "${SSL_CERT_FILE:-}" ]; then lend "$(readlink -f "$SSL_CERT_FILE")" "$SSL_CERT_FILE"; fi
if node=$(command -v node) && npm=$(command -v npm); then
  npm_dir=$(cd "$(dirname "$(readlink -f "$npm")")/.." && pwd)   # .../node_modules/npm
  lend "$(readlink -f "$node")" /usr/local/bin/node
  lend "$npm_dir" /usr/local/lib/node_modules/npm
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  lend "$HOME/.npmrc" /root/.npmrc
  mkdir -p "$HOME/.npm" && lend "$HOME/.npm" /root/.npm rw
fi
for b in "${binds[@]}"; do
  IFS='|' read -r src dst _ <<<"$b"
  if [ -d "$src" ]; then mkdir -p "$root$dst"; else mkdir -p "$(dirname "$root$dst")"; touch "$root$dst"; fi
done

env_in=(HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
for name in $(compgen -e); do
  case "$name" in
    PIP_* | SSL_CERT_FILE | SSL_CERT_DIR | REQUESTS_CA_BUNDLE | CURL_CA_BUNDLE | NODE_EXTRA_CA_CERTS | HOUSIFY_TEST_*)
      env_in+=("$name=${!name}") ;;
  esac
done

# The namespace: its mounts vanish with it, and its processes (the standalone) die with its init.
start=$(date +%s)
status=0
unshare --mount --pid --fork --propagation private bash -euo pipefail -c '
  root=$1; shift
  binds=(); while [ "$1" != -- ]; do binds+=("$1"); shift; done; shift
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  for b in "${binds[@]}"; do
    IFS="|" read -r src dst mode <<<"$b"
    mount --bind "$src" "$root$dst"
    [ "$mode" = ro ] && mount -o remount,bind,ro "$root$dst"
  done
  exec chroot "$root" /usr/bin/env -i "$@" /usr/local/sbin/housify-fresh-inside /srv/housify
' fresh "$root" "${binds[@]}" -- "${env_in[@]}" || status=$?
elapsed inside "$start"
exit "$status"
