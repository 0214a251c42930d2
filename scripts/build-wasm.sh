#!/usr/bin/env bash
# Builds crates/kernels to wasm/torchlet.wasm (SIMD128, optimised, reproducible).
# Toolchain: rustup's cargo if its wasm32 std is installed, else Debian's rustc 1.63
# (apt-get install rustc cargo libstd-rust-dev-wasm32 lld binaryen). The committed .wasm is built
# with Debian's, the toolchain CI has; `--check` rebuilds and fails if the committed file differs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=wasm/torchlet.wasm
target=wasm32-unknown-unknown

if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  cargo=$(rustup which cargo) rustc=$(rustup which rustc)
elif [ -x /usr/bin/rustc ] && [ -d "$(/usr/bin/rustc --print sysroot)/lib/rustlib/$target" ]; then
  cargo=/usr/bin/cargo rustc=/usr/bin/rustc
  export PATH="/usr/bin:$PATH"
else
  echo "build-wasm: no rustc with the $target std found." >&2
  echo "  Install Debian's: apt-get install -y rustc cargo libstd-rust-dev-wasm32 lld binaryen" >&2
  exit 1
fi
command -v wasm-opt >/dev/null || { echo "build-wasm: wasm-opt missing (apt-get install binaryen)" >&2; exit 1; }

# Paths are remapped so the bytes do not depend on where the checkout lives.
export RUSTC="$rustc"
# Link flags: memory may grow to the wasm32 limit (4 GiB, declared as the module's maximum), and
# the shadow-stack pointer is exported so ts/core/wasm.ts can rewind it when a kernel's bounds
# check throws through the frames of an export (crates/kernels/src/guard.rs).
link="-C link-arg=--max-memory=4294967296 -C link-arg=--export=__stack_pointer"
export RUSTFLAGS="-C target-feature=+simd128,+mutable-globals $link --remap-path-prefix=$root=/torchlet --remap-path-prefix=${HOME:-/root}=/home"
export CARGO_TARGET_DIR="$root/target"
export SOURCE_DATE_EPOCH=0
echo "build-wasm: $("$rustc" --version), $(wasm-opt --version)" >&2
"$cargo" build --quiet --release --target "$target" -p torchlet-kernels

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
wasm-opt -O3 --enable-simd --strip-debug --strip-producers \
  "target/$target/release/torchlet_kernels.wasm" -o "$tmp"

if [ "${1:-}" = "--check" ]; then
  if ! cmp -s "$tmp" "$out"; then
    echo "build-wasm: $out is stale: it differs from a rebuild of crates/ (run npm run build:wasm and commit it)" >&2
    exit 1
  fi
  echo "build-wasm: $out is fresh ($(wc -c <"$out") bytes)" >&2
else
  mkdir -p wasm
  cp "$tmp" "$out"
  echo "build-wasm: wrote $out ($(wc -c <"$out") bytes)" >&2
fi
