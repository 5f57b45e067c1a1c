#!/usr/bin/env bash
# Benchmark harness: tanto vs BuildKit (dockerd 20.10) vs buildah on this machine; B2/B3/B4
# also as a normal user: tanto rootless vs podman rootless (run.py --rootless-user, --no-rootless).
# Installs what it needs, builds tanto (release), then runs bench/run.py with the
# given arguments (e.g. --reps 5 --only B1,B2,B4,B7,FLOOR --out /tmp/bench.md).
# Needs root. Everything it starts (registry, dockerd) runs under a temp dir and is
# stopped by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in docker.io:dockerd buildah:buildah podman:podman skopeo:skopeo mmdebstrap:mmdebstrap \
         docker-registry:docker-registry crun:crun runc:runc busybox-static:busybox \
         uidmap:newuidmap slirp4netns:slirp4netns; do
  pkg=${p%%:*}; bin=${p#*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg")
done
[ -x /usr/bin/docker ] || need+=(docker.io)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -z "${TANTO_BENCH_NO_BUILD:-}" ]; then
  cargo build --release -q -p tanto-cli -p tanto-testkit
fi
exec python3 bench/run.py "$@"
