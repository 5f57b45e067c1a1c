#!/usr/bin/env bash
# Installs everything tanto needs on a fresh Debian 12 machine (as root), builds
# it, starts the local fixture registry and runs examples/hello.py end to end
# with the official Dagger Python SDK.
#   ./scripts/setup.sh            install + build + run the example
#   SKIP_EXAMPLE=1 ./scripts/setup.sh   install + build only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# System packages: the OCI runtimes, the fixture registry and busybox image
# source, python for the SDK examples, and tools the tests use (podman: the
# Docker-compatible image store of the host_store and host_images tests; skopeo:
# tarballs written by another tool, in host_images). What each test needs is
# checked in one place: crates/tanto-testkit/src/prereq.rs.
packages=(crun runc tini docker-registry busybox-static python3 python3-venv iptables iproute2 git ca-certificates podman skopeo)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi

log "building tanto (release)"
cargo build --release --locked -p tanto-cli -p tanto-testkit

# The Python SDK, in a venv kept under target/.
venv="$root/target/venv"
if ! "$venv/bin/python" -c 'import dagger' 2>/dev/null; then
  log "installing dagger-io 0.21.11 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check dagger-io==0.21.11
fi

# A local registry with a busybox image built from Debian's busybox-static;
# docker.io is mirrored to it by the engine config written next to it.
fixtures="${TANTO_FIXTURES_DIR:-/tmp/tanto-fixtures}"
log "starting the fixture registry in $fixtures"
"$root/target/release/tanto-fixtures" serve --dir "$fixtures" --engine-config "$fixtures/engine.toml"

if [ -z "${SKIP_EXAMPLE:-}" ]; then
  log "running examples/hello.py"
  TANTO_CONFIG="$fixtures/engine.toml" _EXPERIMENTAL_DAGGER_CLI_BIN="$root/target/release/tanto" \
    "$venv/bin/python" "$root/examples/hello.py"
fi
log "done: tanto is at $root/target/release/tanto; engine config $fixtures/engine.toml"
