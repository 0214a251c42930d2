#!/usr/bin/env bash
# Checks the README's commands on a fresh Debian machine: a bookworm chroot with only what a new
# machine of this kind has (Node.js with npm, python3, make, g++, git; no Rust, no Chromium, no
# wasm toolchain), a fresh clone of one commit, then `npm install && npm start` and `npm test`
# run as root, exactly as the README says. It prints each command's wall time and the tests
# summary line ("tests: N passed, N failed"), and exits non-zero if either command fails.
#
#   sudo bash scripts/check-fresh-machine.sh [COMMIT]        # COMMIT defaults to HEAD
#   sudo bash scripts/check-fresh-machine.sh --ci [COMMIT]   # runs `bash .ci/run` instead
#
# With --ci it runs CI's script on the fresh clone in place of the README's commands (it adds the
# wasm toolchain and checks wasm/torchlet.wasm against a rebuild, then runs npm test; log
# fresh-ci.log).
#
# Needs root (debootstrap, chroot, mounts), debootstrap (apt-get install -y debootstrap) and the
# Debian mirror this machine's apt uses (read from /etc/apt/sources.list[.d]). The base chroot is
# built once into $FRESH_ROOT/base (default /tmp/fresh-root; a few minutes) and kept; every run
# copies it to $FRESH_ROOT/run, so each run starts from the same untouched machine. Remove
# $FRESH_ROOT/base to rebuild it. Logs: $FRESH_LOGS/fresh-install.log and fresh-test.log (default
# /tmp). Not part of `npm test`: it takes many minutes and downloads Debian packages.
set -euo pipefail
# One block, read whole before it runs: a checkout that changes during the run cannot break it.
{
ci=0
if [ "${1:-}" = --ci ]; then
  ci=1
  shift
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$repo" rev-parse --verify "${1:-HEAD}^{commit}")
top=${FRESH_ROOT:-/tmp/fresh-root}
logs=${FRESH_LOGS:-/tmp}
base=$top/base
run=$top/run
case "$top/" in "$repo"/*)
  echo "check-fresh-machine: expected FRESH_ROOT outside the repository, got $top" >&2
  exit 2
  ;;
esac
[ "$(id -u)" -eq 0 ] || {
  echo "check-fresh-machine: expected root (debootstrap, chroot, mounts), got uid $(id -u); run: sudo bash $0 ${1:-}" >&2
  exit 2
}
command -v debootstrap >/dev/null || {
  echo "check-fresh-machine: expected debootstrap, got none; install it with: apt-get install -y debootstrap" >&2
  exit 2
}
mkdir -p "$top" "$logs"
# One check at a time: two would share $FRESH_ROOT/run.
exec 9>"$top/.lock"
flock -n 9 || {
  echo "check-fresh-machine: expected no other check running in $top, got one (lock $top/.lock)" >&2
  exit 2
}

# Unmounts everything under a root, deepest first. Nothing is deleted while anything is mounted.
unmount_all() {
  local m
  for m in $(findmnt -rn -o TARGET | grep -E "^$1(/|$)" | sort -r); do umount -l "$m"; done
}
remove_root() {
  unmount_all "$1"
  if findmnt -rn -o TARGET | grep -qE "^$1(/|$)"; then
    echo "check-fresh-machine: $1 still has mounts; not removing it" >&2
    exit 1
  fi
  rm -rf --one-file-system "$1"
}
mount_all() {
  mount -t proc proc "$1/proc"
  mount -t sysfs sys "$1/sys"
  mount --rbind /dev "$1/dev"
  mount --make-rslave "$1/dev"
  cp /etc/resolv.conf "$1/etc/resolv.conf"
}
trap 'unmount_all "$base"; unmount_all "$run"' EXIT
trap 'exit 130' INT TERM

# The Debian mirror this machine's apt uses (deb822 URIs, else a one-line sources.list entry).
mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || {
  echo "check-fresh-machine: expected a Debian mirror in /etc/apt/sources.list[.d], got none" >&2
  exit 2
}

node_bin=$(command -v node)
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
if [ ! -f "$base/.fresh-base-ready" ]; then
  [ -d "$base" ] && remove_root "$base"
  echo "check-fresh-machine: building a Debian bookworm chroot in $base (debootstrap, minbase)"
  t0=$SECONDS
  debootstrap --variant=minbase bookworm "$base" "$mirror" >"$logs/fresh-debootstrap.log" 2>&1 || {
    tail -20 "$logs/fresh-debootstrap.log" >&2
    exit 1
  }
  # The same apt sources and settings as this machine (the mirror, bookworm-updates, -security).
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    cp /etc/apt/sources.list.d/*.sources "$base/etc/apt/sources.list.d/"
    rm -f "$base/etc/apt/sources.list"
  fi
  cp /etc/apt/apt.conf.d/99artifact-registry "$base/etc/apt/apt.conf.d/" 2>/dev/null || true
  mount_all "$base"
  # What a new machine of this kind has: python3, make, g++, git (and CA certificates).
  chroot "$base" env DEBIAN_FRONTEND=noninteractive bash -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends git python3 make g++ ca-certificates' \
    >>"$logs/fresh-debootstrap.log" 2>&1 || {
    tail -20 "$logs/fresh-debootstrap.log" >&2
    exit 1
  }
  # This machine's extra CA certificates (its network's, which npm's registry traffic needs).
  if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$base/usr/local/share/ca-certificates/"
    chroot "$base" update-ca-certificates >>"$logs/fresh-debootstrap.log" 2>&1
  fi
  unmount_all "$base"
  # This machine's Node.js and npm, under /usr/local, with its npm settings (registry, CA file).
  install -D -m 755 "$node_bin" "$base/usr/local/bin/node"
  mkdir -p "$base/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$base/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$base/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$base/usr/local/bin/npx"
  if [ -d /usr/include/node ]; then
    mkdir -p "$base/usr/local/include"
    cp -a /usr/include/node "$base/usr/local/include/node"
  fi
  [ -f "$HOME/.npmrc" ] && sed 's#^nodedir=.*#nodedir=/usr/local#' "$HOME/.npmrc" >"$base/root/.npmrc"
  gconf=$(npm config get globalconfig)
  [ -f "$gconf" ] && install -D -m 644 "$gconf" "$base/usr/local/etc/npmrc"
  chmod 600 "$base/root/.npmrc" 2>/dev/null || true
  touch "$base/.fresh-base-ready"
  echo "check-fresh-machine: base chroot ready in $((SECONDS - t0)) s"
fi

# A fresh copy of the base machine, a fresh clone of the commit.
[ -d "$run" ] && remove_root "$run"
cp -a "$base" "$run"
git clone -q --no-local "$repo" "$run/root/torchlet"
git -C "$run/root/torchlet" checkout -q --detach "$commit"
mount_all "$run"
echo "check-fresh-machine: commit $(git -C "$repo" log -1 --format='%h %s' "$commit" | cut -c1-90)"
echo "check-fresh-machine: in the chroot: node $(chroot "$run" /usr/local/bin/node --version)," \
  "npm $(chroot "$run" /usr/local/bin/npm --version 2>/dev/null);" \
  "cargo: $(chroot "$run" sh -c 'command -v cargo || echo none')," \
  "chromium: $(chroot "$run" sh -c 'command -v chromium || echo none')"

# Runs one command in the chroot as root with a clean login environment; prints its wall time.
in_chroot() {
  local name=$1 cmd=$2 log=$logs/fresh-$1.log t0 rc=0
  echo "check-fresh-machine: \$ $cmd   (log: $log)"
  t0=$EPOCHREALTIME
  chroot "$run" env -i HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/torchlet && $cmd" >"$log" 2>&1 || rc=$?
  printf 'check-fresh-machine: %s: exit %d, wall %s s\n' "$cmd" "$rc" \
    "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')"
  return "$rc"
}
status=0
if [ "$ci" -eq 1 ]; then
  in_chroot ci 'bash .ci/run' || status=1
  grep -E '^(setup|build-wasm):' "$logs/fresh-ci.log" | sed 's/^/  /' || true
  grep -E '^tests: [0-9]+ passed' "$logs/fresh-ci.log" | sed 's/^/  /' || tail -20 "$logs/fresh-ci.log" | sed 's/^/  /'
elif ! in_chroot install 'npm install && npm start'; then
  status=1
  tail -20 "$logs/fresh-install.log" | sed 's/^/  /'
else
  # The last epoch of each training run that npm start makes.
  awk '/test accuracy/ { last = $0 } /^wrote / && last { print "  " last; last = "" }' \
    "$logs/fresh-install.log"
  in_chroot test 'npm test' || status=1
  grep -E '^setup:' "$logs/fresh-test.log" | sed 's/^/  /' || true
  grep -E '^tests: [0-9]+ passed' "$logs/fresh-test.log" | sed 's/^/  /' || tail -20 "$logs/fresh-test.log" | sed 's/^/  /'
fi
[ "$status" -eq 0 ] && echo "check-fresh-machine: passed" || echo "check-fresh-machine: FAILED"
exit "$status"
}
