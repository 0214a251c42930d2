#!/usr/bin/env bash
# `npm test`: the Rust kernel tests (native, both SIMD-emulated and scalar twins), the package
# build (dist/, which the packaging and browser tests use), then the TypeScript + WASM suite with
# vitest, including those tests (headless Chromium: apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/cargo.sh test -p torchlet-kernels
npm run build
npx vitest run "$@"
