#!/usr/bin/env bash
# `npm test`: the Rust kernel tests (native, both SIMD-emulated and scalar twins), the type check,
# eslint and prettier, the API reference check (docs/api is what TypeDoc generates, with no
# warning: scripts/docs.sh; a failure is reported and counted, and the suites still run), the
# package build (dist/, which the packaging, README and browser tests use), then the TypeScript +
# WASM suite with vitest, including those tests (headless Chromium: apt-get install -y chromium).
# It ends with one line that adds everything up: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
# A fresh Debian machine lacks Rust and Chromium: install them (as root), or say what is missing.
bash scripts/setup-tools.sh
cargo_log=build/cargo-test.log
bash scripts/cargo.sh test -p torchlet-kernels 2>&1 | tee "$cargo_log"
# Types, lint (eslint) and formatting (prettier, 100 columns) before anything runs.
npm run typecheck
npm run lint
docs_status=0
bash scripts/docs.sh --check || docs_status=$?
npm run build
vitest_json=build/vitest-results.json
rm -f "$vitest_json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$vitest_json" "$@" || status=$?
node - "$cargo_log" "$vitest_json" "$docs_status" <<'JS'
const fs = require('node:fs');
const [cargoLog, vitestJson, docsStatus] = process.argv.slice(2);
let passed = 0;
let failed = 0;
for (const m of fs.readFileSync(cargoLog, 'utf8').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
  passed += Number(m[1]);
  failed += Number(m[2]);
}
if (fs.existsSync(vitestJson)) {
  const v = JSON.parse(fs.readFileSync(vitestJson, 'utf8'));
  passed += v.numPassedTests;
  failed += v.numFailedTests;
  // A file that fails before its tests run (an import error, a failing beforeAll) fails no test.
  if (!v.success && v.numFailedTests === 0) failed += Math.max(1, v.numFailedTestSuites);
} else {
  failed += 1;
}
// The API reference check (scripts/docs.sh --check) counts as one test.
if (docsStatus === '0') passed += 1;
else failed += 1;
console.log(`tests: ${passed} passed, ${failed} failed`);
JS
[ "$docs_status" -eq 0 ] || echo "npm test: docs/api check failed (above): run npm run docs" >&2
[ "$status" -ne 0 ] || status=$docs_status
exit "$status"
