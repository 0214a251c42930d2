#!/usr/bin/env bash
# Runs cargo natively (for `cargo test`): the cargo on PATH, else rustup's, else Debian's.
# The kernels compile on rustc 1.63 and on current stable alike.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v cargo >/dev/null 2>&1; then exec cargo "$@"; fi
if [ -x "${HOME:-}/.cargo/bin/cargo" ]; then exec "${HOME:-}/.cargo/bin/cargo" "$@"; fi
if [ -x /usr/bin/cargo ]; then RUSTC=/usr/bin/rustc exec /usr/bin/cargo "$@"; fi
echo "cargo.sh: expected cargo on PATH, in ~/.cargo/bin or /usr/bin, got none; bash scripts/setup-tools.sh installs Debian's (as root) or names the command" >&2
exit 1
