#!/usr/bin/env bash
# Runs the whole test suite: unit tests and integration tests that start real
# engines against a real local registry and run real containers (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_EXAMPLE=1 ./scripts/setup.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
