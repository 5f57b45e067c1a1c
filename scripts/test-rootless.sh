#!/usr/bin/env bash
# The engine's integration suites a second time, rootless: each test binary
# runs as the unprivileged user tanto-rootless (made by scripts/setup.sh, with
# subordinate IDs) inside tanto's own user namespace (`tanto unshare`), so the
# engines the tests start in-process run rootless for real — overlays with
# userxattr, the bridge behind slirp4netns, state in the tests' temp dirs.
# Suites about root-only host details (tanto-exec's network slots and
# privileged host devices, the docker/podman image stores, GPUs) are not
# repeated; conformance runs rootless in .ci/run and tests/rootless.rs drives
# the binary as the user.
#   scripts/test-rootless.sh        (as root, after the root suites built the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
user=tanto-rootless
suites=(pipeline services images sources engine_query nested sockets hardening limits gc git_local dockerbuild)

missing() {
  if [ -n "${CI:-}" ]; then
    echo "test-rootless: FAILED: $*" >&2
    exit 1
  fi
  echo "test-rootless: SKIPPED (prerequisite missing): $*" >&2
  exit 0
}
[ "$(id -u)" -eq 0 ] || missing "needs root (to run the suites as $user)"
id "$user" >/dev/null 2>&1 || missing "no user $user (run scripts/setup.sh)"
tanto="$root/target/release/tanto"
[ -x "$tanto" ] || missing "$tanto is not built (run scripts/setup.sh)"
runuser -u "$user" -- test -x "$tanto" -a -r "$root/crates/tanto-engine/Cargo.toml" ||
  missing "$user cannot reach the checkout at $root (the suites read their data from it): make its directories readable by other users"

# The test binaries of the listed suites (built by the root run, same profile).
mapfile -t binaries < <(cargo test -p tanto-engine --tests --no-run --locked --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
want = set(sys.argv[1:])
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in want:
        print(m["target"]["name"], m["executable"])
' "${suites[@]}")
[ "${#binaries[@]}" -eq "${#suites[@]}" ] || missing "found ${#binaries[@]} of ${#suites[@]} test binaries"

home=$(getent passwd "$user" | cut -d: -f6)
failed=()
start=$SECONDS
for entry in "${binaries[@]}"; do
  name=${entry%% *}
  bin=${entry#* }
  echo "== rootless: $name ==" >&2
  # a clean environment: the user's own, with /usr/sbin for the tools the
  # engine looks up (iptables, as root), CI passed on for the prerequisites' rule
  if ! (cd "$root/crates/tanto-engine" && runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin ${CI:+CI="$CI"} \
    "$tanto" unshare "$bin" --test-threads=2); then
    failed+=("$name")
  fi
done
echo "== rootless suites took $((SECONDS - start))s ==" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  echo "test-rootless: FAILED: ${failed[*]}" >&2
  exit 1
fi
