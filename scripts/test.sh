#!/usr/bin/env bash
# `npm test`: the Rust kernel tests (native, both SIMD-emulated and scalar twins), then the
# TypeScript + WASM suite with vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/cargo.sh test -p torchlet-kernels
npx vitest run "$@"
