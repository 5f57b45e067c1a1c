#!/usr/bin/env bash
# Chaos probe of tanto engines (see docs/hardening.md): kill -9 of engines during pipelines
# and during prune, concurrent prune + pipelines, malformed requests; then a count of
# failures, leftovers (processes, mounts, run-dir files, tanto* links, iptables rules,
# slot files) and the memory of a session. Exits 1 on any failure or leftover.
#
#   scripts/chaos.sh [--kills N] [--pipelines N] [--malformed N] [--keep]
#
# Defaults: 100 kills (half during pipelines, half during prune), 100 concurrent
# pipelines against a pruner, 200 malformed requests. Needs root and scripts/setup.sh
# done; uses TANTO_BIN (default: target/release/tanto if built, else target/debug/tanto)
# and the tanto-fixtures binary beside it (cargo build -p tanto-cli -p tanto-testkit).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "chaos.sh: run as root (engines mount filesystems and run containers)" >&2
  exit 2
fi
if [ -z "${TANTO_BIN:-}" ]; then
  for b in "$here/../target/release/tanto" "$here/../target/debug/tanto"; do
    if [ -x "$b" ]; then TANTO_BIN=$(cd "$(dirname "$b")" && pwd)/tanto; break; fi
  done
fi
: "${TANTO_BIN:?no tanto binary: cargo build -p tanto-cli -p tanto-testkit, or set TANTO_BIN}"
fixtures="$(dirname "$TANTO_BIN")/tanto-fixtures"
if [ ! -x "$fixtures" ]; then
  echo "chaos.sh: $fixtures is missing: cargo build -p tanto-testkit (same profile as $TANTO_BIN)" >&2
  exit 2
fi
work=$(mktemp -d /var/tmp/tanto-chaos-XXXXXX)
run_dir=$(mktemp -d /run/tanto-chaos-XXXXXX)
cleanup() {
  "$fixtures" stop --dir "$work/reg" >/dev/null 2>&1 || true
  if [ "${CHAOS_KEEP:-0}" != 1 ]; then
    # unmount anything a failed run left before removing (never recursing through a mount)
    grep -F -e " $work/" -e " $run_dir/" -e " $run_dir " /proc/self/mountinfo | awk '{print $5}' | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$work" "$run_dir"
  else
    echo "kept: $work $run_dir" >&2
  fi
}
trap cleanup EXIT
for a in "$@"; do [ "$a" = --keep ] && CHAOS_KEEP=1; done
eval "$("$fixtures" serve --dir "$work/reg")"
export TANTO_BIN TANTO_CONFIG REGISTRY
export TANTO_STATE_DIR="$work/state" TANTO_RUN_DIR="$run_dir" CHAOS_WORK="$work"
python3 "$here/chaos.py" "$@"
