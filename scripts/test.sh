#!/usr/bin/env bash
# Runs the whole test suite: the guardrails (formatting, clippy with warnings as
# errors), then unit tests and integration tests that start real engines against
# a real local registry and run real containers (needs root). The crate
# dependency rules are a test (crates/tanto-testkit/tests/dependency_rules.rs).
# A test whose prerequisites are missing is reported as skipped; with CI set
# (CI=true) it fails instead, naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo fmt --check ==" >&2
cargo fmt --all --check
echo "== cargo clippy ==" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
SKIP_EXAMPLE=1 ./scripts/setup.sh
./target/release/tanto-fixtures prereqs
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
# The engine's integration suites again, as an unprivileged user (rootless mode).
./scripts/test-rootless.sh
