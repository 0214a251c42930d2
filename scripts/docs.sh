#!/usr/bin/env bash
# `npm run docs`: regenerates the API reference, docs/api (markdown), from ts/index.ts with TypeDoc
# and typedoc-plugin-markdown (typedoc.json). Commit the result.
# `bash scripts/docs.sh --check` (npm test): generates it into a temporary folder and fails when
# TypeDoc warns (typedoc.json: warnings are errors, every exported name must be documented) or
# when docs/api differs from what the sources generate.
# typedoc.json: no source links (`disableSources`; a link carries a line number, so every edit
# above a documented name would make docs/api stale), and no second type check
# (`skipErrorChecking`: `npm run typecheck` does it before this runs); `@internal` members are
# left out, as they are stripped from the published .d.ts (tsconfig.build.json).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  --check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    npx typedoc --logLevel Warn --out "$tmp/api"
    if ! diff -ru docs/api "$tmp/api" >"$tmp/diff"; then
      echo "docs: expected docs/api to match the sources, got a difference: run \`npm run docs\` (bash scripts/docs.sh) and commit docs/api" >&2
      head -60 "$tmp/diff" >&2
      exit 1
    fi
    echo "docs: docs/api is up to date, no TypeDoc warning"
    ;;
  '')
    npx typedoc --logLevel Warn
    echo "docs: wrote docs/api"
    ;;
  *)
    echo "docs: expected no argument or --check, got $1" >&2
    exit 2
    ;;
esac
