#!/usr/bin/env bash
# Installs everything tanto needs on a fresh Debian 12 machine (as root), makes
# the users of the rootless tests, builds it, starts the local fixture registry
# and runs examples/hello.py end to end with the official Dagger Python SDK.
#   ./scripts/setup.sh            install + build + run the example
#   SKIP_EXAMPLE=1 ./scripts/setup.sh   install + build only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# System packages: the OCI runtimes, the fixture registry and busybox image
# source, python for the SDK examples, and tools the tests use (podman: the
# Docker-compatible image store of the host_store and host_images tests; skopeo:
# tarballs written by another tool, in host_images; qemu-user-static: containers
# of other platforms, through binfmt_misc; mmdebstrap: the Debian images of the
# slow tier and the `python:3.14-slim` stand-in module tests pull; tmux: a real
# terminal for the live progress view's test; uidmap, slirp4netns, fuse-overlayfs,
# passt: rootless mode — newuidmap/newgidmap, container networks as a normal user).
# What each test needs is checked in one place: crates/tanto-testkit/src/prereq.rs.
packages=(crun runc tini docker-registry busybox-static python3 python3-venv iptables iproute2 git ca-certificates podman skopeo qemu-user-static mmdebstrap tmux uidmap slirp4netns fuse-overlayfs passt)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Containers of other platforms run through QEMU user emulation: binfmt_misc
# handlers with the F (fix-binary) flag, so the kernel opens the emulator at
# registration and it works inside every container. Debian's qemu-user-static
# ships the handlers in /usr/lib/binfmt.d; without systemd nobody registers
# them, so we do (the engine checks them at start and registers missing ones).
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  log "mounting binfmt_misc"
  mount -t binfmt_misc binfmt_misc "$binfmt"
fi
for conf in /usr/lib/binfmt.d/qemu-*.conf; do
  [ -e "$conf" ] || continue
  name=$(basename "$conf" .conf)
  [ -e "$binfmt/$name" ] && continue
  line=$(grep -v '^#' "$conf" | head -n1)
  case "${line##*:}" in *F*) ;; *) line="${line}F" ;; esac
  printf '%s' "$line" >"$binfmt/register" || log "cannot register the binfmt_misc handler $name"
done

# Rootless mode (tanto run by a normal user) opens /dev/net/tun (slirp4netns)
# and /dev/fuse (fuse-overlayfs). On a normal system udev's rules make both
# 0666; a container or VM without udev leaves them 0600 (root only).
for dev in /dev/net/tun /dev/fuse; do
  if [ -c "$dev" ] && [ "$(stat -c %a "$dev")" != 666 ]; then
    log "making $dev usable by every user (as udev does)"
    chmod 0666 "$dev"
  fi
done

# The users of the rootless tests (crates/tanto-cli/tests/rootless.rs, and the
# conformance suite's rootless pass in .ci/run): tanto-rootless with 65536
# subordinate IDs (the full ID map) and tanto-rootless-single with none (the
# single-ID fallback). Debian's useradd gives a new user a range itself
# (SUB_UID_*/SUB_GID_* in /etc/login.defs); rootless-user.sh gives one when it
# did not and checks the rest.
for user in tanto-rootless tanto-rootless-single; do
  if ! id -u "$user" >/dev/null 2>&1; then
    log "creating the rootless test user $user"
    useradd -m -s /bin/bash "$user"
  fi
done
"$root/scripts/rootless-user.sh" tanto-rootless ||
  log "rootless mode is not fully usable here (see above); the rootless tests say what they miss"
single_uid=$(id -u tanto-rootless-single)
for file in /etc/subuid /etc/subgid; do
  if grep -Eq "^(tanto-rootless-single|$single_uid):" "$file" 2>/dev/null; then
    sed -Ei "/^(tanto-rootless-single|$single_uid):/d" "$file"
  fi
done

# The arm64 half of the multi-platform busybox fixture image: Debian's
# busybox-static for arm64, unpacked where tanto-testkit looks for it
# (image::BUSYBOX_ARM64_BIN).
arm64_busybox=/var/lib/tanto-fixtures/busybox-static-arm64
if [ "$(dpkg --print-architecture)" != arm64 ] && [ ! -x "$arm64_busybox/bin/busybox" ]; then
  log "fetching busybox-static:arm64"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -qq
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root busybox-static:arm64)
  dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/root"
  mkdir -p "$arm64_busybox/bin"
  install -m 0755 "$tmp/root/bin/busybox" "$arm64_busybox/bin/busybox.partial"
  mv "$arm64_busybox/bin/busybox.partial" "$arm64_busybox/bin/busybox"
  rm -rf "$tmp"
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
# The same SDK for the rootless tests, which run their SDK scripts as the test
# users: a venv of the system's python3 (a venv of a python under /root, as
# pyenv's, is not theirs to run), outside the checkout (which may sit below a
# directory only root may enter).
rootless_venv=/var/lib/tanto-fixtures/venv-rootless
install -d -m 0755 /var/lib/tanto-fixtures
if ! runuser -u tanto-rootless -- "$rootless_venv/bin/python" -c 'import dagger' 2>/dev/null; then
  log "installing dagger-io 0.21.11 into $rootless_venv"
  rm -rf "$rootless_venv"
  /usr/bin/python3 -m venv "$rootless_venv"
  "$rootless_venv/bin/pip" install -q --disable-pip-version-check dagger-io==0.21.11
  chmod -R a+rX "$rootless_venv"
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
