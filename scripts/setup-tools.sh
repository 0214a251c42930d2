#!/usr/bin/env bash
# Installs what `npm test` needs beyond Node.js and npm, only when it is missing, and says so:
#   - a Rust toolchain (cargo, rustc) for the kernels' native `cargo test`: any cargo on PATH or
#     rustup's ~/.cargo/bin/cargo will do, else Debian's rustc and cargo are installed;
#   - Chromium for the browser tests: $CHROMIUM_PATH if set, else Debian's /usr/bin/chromium
#     (package chromium; never a browser downloaded by a test tool);
#   - redis-server for the queue tests (test/gridqueue.test.ts starts its own on a free port):
#     any on PATH, else Debian's redis-server.
# With --wasm (for .ci/run), also what rebuilds wasm/torchlet.wasm byte for byte: Debian's rustc
# 1.63 with the wasm32 std (libstd-rust-dev-wasm32), lld and binaryen (wasm-opt).
#
# When everything is there it prints one line and exits at once. When something is missing it
# installs it with apt-get as root (apt-get update first: a fresh machine has no package lists),
# or, when it cannot (not root, no apt-get), names the exact command and exits 1.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
pkgs=()
why=()
cargo_bin=$(command -v cargo 2>/dev/null || true)
if [ -z "$cargo_bin" ] && [ -x "${HOME:-}/.cargo/bin/cargo" ]; then cargo_bin=${HOME:-}/.cargo/bin/cargo; fi
if [ -z "$cargo_bin" ]; then
  pkgs+=(rustc cargo)
  why+=("the Rust kernel tests (cargo test) need cargo, and there is none on PATH or in ~/.cargo/bin: Debian's rustc, cargo")
fi
if [ ! -x "$chromium" ]; then
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    echo "setup: expected Chromium at \$CHROMIUM_PATH, got no executable file at $chromium; fix CHROMIUM_PATH or unset it to use Debian's /usr/bin/chromium" >&2
    exit 1
  fi
  pkgs+=(chromium)
  why+=("the browser tests need Chromium, and there is none at /usr/bin/chromium: Debian's chromium")
fi
redis_bin=$(command -v redis-server 2>/dev/null || true)
if [ -z "$redis_bin" ]; then
  pkgs+=(redis-server)
  why+=("the queue tests (gridSearch on Redis + BullMQ) start a redis-server, and there is none on PATH: Debian's redis-server")
fi
if [ "${1:-}" = --wasm ]; then
  wasm=()
  for p in rustc cargo libstd-rust-dev-wasm32 lld binaryen; do
    dpkg -s "$p" >/dev/null 2>&1 || wasm+=("$p")
  done
  if [ ${#wasm[@]} -gt 0 ]; then
    pkgs+=("${wasm[@]}")
    why+=("the .wasm check rebuilds with Debian's rustc 1.63, its wasm32 std, lld and wasm-opt: ${wasm[*]}")
  fi
elif [ $# -gt 0 ]; then
  echo "setup-tools: expected no argument or --wasm, got $*" >&2
  exit 2
fi

if [ ${#pkgs[@]} -eq 0 ]; then
  echo "setup: found cargo ($cargo_bin), Chromium ($chromium) and redis-server ($redis_bin); nothing to install"
  exit 0
fi
# --wasm repeats rustc and cargo when they are missing: name each package once.
uniq=()
for p in "${pkgs[@]}"; do
  case " ${uniq[*]-} " in *" $p "*) ;; *) uniq+=("$p") ;; esac
done
pkgs=("${uniq[@]}")
for w in "${why[@]}"; do echo "setup: $w"; done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: expected Debian's apt-get to install ${pkgs[*]}, got none; install their equivalents" \
    "(cargo: a Rust toolchain; chromium: a Chromium binary, named by CHROMIUM_PATH; redis-server:" \
    "Redis 7 on PATH), then rerun" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "setup: installing needs root; run this once, then run this command again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${pkgs[*]}" >&2
  else
    echo "setup: installing needs root and there is no sudo; as root, run this once, then run this command again:" >&2
    echo "  apt-get update && apt-get install -y ${pkgs[*]}" >&2
  fi
  exit 1
fi

echo "setup: apt-get install ${pkgs[*]} (Debian packages, once; this takes a few minutes)"
t0=$SECONDS
# apt's own output goes to a log, shown only when it fails. No recommended packages: Chromium's
# would add desktop services (dbus, avahi, polkit, upower) that a headless test run never uses.
log=$(mktemp -t setup-tools.XXXXXX)
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "setup: expected apt-get install ${pkgs[*]} to succeed, got the errors above (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
# Check that what was installed is what the tests look for.
command -v cargo >/dev/null 2>&1 || [ -x "${HOME:-}/.cargo/bin/cargo" ] || {
  echo "setup: expected cargo after installing, got none on PATH" >&2
  exit 1
}
[ -x "$chromium" ] || {
  echo "setup: expected Chromium at $chromium after installing, got no file" >&2
  exit 1
}
command -v redis-server >/dev/null 2>&1 || {
  echo "setup: expected redis-server on PATH after installing, got none" >&2
  exit 1
}
echo "setup: installed ${pkgs[*]} in $((SECONDS - t0)) s"
