#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, only when it is missing, and says so:
# a Rust toolchain for `cargo test` and Debian's Chromium for the browser tests (never a
# downloaded browser). With --wasm, also what rebuilds the .wasm (Debian's rustc 1.63 with the
# wasm32 std, lld, binaryen). Does nothing when everything is there; without root and apt-get it
# names the packages and fails.
set -euo pipefail
rust=()
browser=()
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then rust+=(rustc cargo); fi
[ -x /usr/bin/chromium ] || browser+=(chromium)
if [ "${1:-}" = --wasm ]; then
  for p in rustc cargo libstd-rust-dev-wasm32 lld binaryen; do
    dpkg -s "$p" >/dev/null 2>&1 || rust+=("$p")
  done
fi
[ ${#rust[@]} -eq 0 ] && [ ${#browser[@]} -eq 0 ] && exit 0
mapfile -t rust < <(printf '%s\n' "${rust[@]}" | awk 'NF && !seen[$0]++')
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: the tests need these Debian packages: ${rust[*]} ${browser[*]}" >&2
  echo "setup: apt-get install -y ${rust[*]} ${browser[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "setup: installing ${rust[*]} ${browser[*]} (Debian packages) for the tests"
apt-get update -qq
if [ ${#rust[@]} -gt 0 ]; then apt-get install -y -qq --no-install-recommends "${rust[@]}" >/dev/null; fi
if [ ${#browser[@]} -gt 0 ]; then apt-get install -y -qq "${browser[@]}" >/dev/null; fi
