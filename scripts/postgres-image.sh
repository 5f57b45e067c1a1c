#!/usr/bin/env bash
# Builds a Debian bookworm image with PostgreSQL 15 (Debian's postgresql package) for
# the slow-tier service test, and pushes it to a registry (plain HTTP).
#   scripts/postgres-image.sh REGISTRY [TAG]     e.g. scripts/postgres-image.sh 127.0.0.1:5000
# Prints the image reference (REGISTRY/tanto/postgres:TAG) on stdout.
#
# The image: user `postgres`, a cluster initialised at build time in
# /var/lib/postgresql/data (user and database `tanto`, password `tanto`, md5 over TCP
# from anywhere), `pg-service` (its Cmd) runs the server listening on all addresses,
# and psql is on PATH. The rootfs is cached in ${TANTO_CACHE:-/var/cache/tanto}/postgres-rootfs-<date>.
# Needs root, mmdebstrap and skopeo (apt-get install mmdebstrap skopeo); about a minute.
set -euo pipefail
registry=${1:?usage: postgres-image.sh REGISTRY [TAG]}
tag=${2:-15}
log() { printf '==> %s\n' "$*" >&2; }

for tool in mmdebstrap skopeo python3; do
  command -v "$tool" >/dev/null || {
    log "installing $tool"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null
  }
done

cache=${TANTO_CACHE:-/var/cache/tanto}
mkdir -p "$cache"
rootfs="$cache/postgres-rootfs-$(date +%Y%m)"
if [ ! -e "$rootfs/.done" ]; then
  log "mmdebstrap bookworm + postgresql into $rootfs"
  rm -rf "$rootfs" "$rootfs.tmp"
  mkdir -p "$rootfs.tmp"
  mmdebstrap --variant=minbase --include=postgresql,postgresql-client,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='chroot "$1" sh -c "pg_dropcluster 15 main 2>/dev/null || true"' \
    --customize-hook='mkdir -p "$1/var/lib/postgresql/data" && chroot "$1" chown postgres:postgres /var/lib/postgresql/data' \
    --customize-hook='echo tanto > "$1/tmp/pw" && chroot "$1" chown postgres /tmp/pw' \
    --customize-hook='chroot "$1" su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/initdb -D /var/lib/postgresql/data -U tanto --pwfile=/tmp/pw --auth-host=md5 --auth-local=trust >/dev/null && rm /tmp/pw"' \
    --customize-hook='echo "host all all 0.0.0.0/0 md5" >> "$1/var/lib/postgresql/data/pg_hba.conf"' \
    --customize-hook='chroot "$1" su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/data -o \"-c listen_addresses= -c unix_socket_directories=/tmp\" -w start >/dev/null && /usr/lib/postgresql/15/bin/createdb -h /tmp -U tanto tanto && /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/data -w stop >/dev/null"' \
    --customize-hook='printf "#!/bin/sh\nexec /usr/lib/postgresql/15/bin/postgres -D \"\${PGDATA:-/var/lib/postgresql/data}\" -c listen_addresses=\"*\" -c unix_socket_directories=/tmp \"\$@\"\n" > "$1/usr/local/bin/pg-service" && chmod 755 "$1/usr/local/bin/pg-service"' \
    --customize-hook='rm -rf "$1/var/cache/apt/"* "$1/var/lib/apt/lists/"*' \
    bookworm "$rootfs.tmp" >&2
  touch "$rootfs.tmp/.done"
  mv "$rootfs.tmp" "$rootfs"
fi

layout=$(mktemp -d)
trap 'rm -rf "$layout"' EXIT
log "packing the layer"
tar --sort=name --numeric-owner --xattrs --exclude=./.done -C "$rootfs" -cf "$layout/layer.tar" .
python3 - "$layout" "$tag" <<'EOF'
import gzip, hashlib, json, os, shutil, sys
layout, tag = sys.argv[1], sys.argv[2]
blobs = os.path.join(layout, "oci", "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
raw = open(os.path.join(layout, "layer.tar"), "rb").read()
diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
layer, layer_size = put(gzip.compress(raw, compresslevel=1, mtime=0))
config = {
    "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
    "os": "linux",
    "config": {
        "User": "postgres",
        "Env": ["PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "PGDATA=/var/lib/postgresql/data"],
        "Cmd": ["pg-service"],
        "ExposedPorts": {"5432/tcp": {}},
    },
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created_by": "scripts/postgres-image.sh (mmdebstrap bookworm postgresql)"}],
}
cfg, cfg_size = put(json.dumps(config, sort_keys=True).encode())
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
}
man, man_size = put(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": manifest["mediaType"], "digest": man, "size": man_size,
           "annotations": {"org.opencontainers.image.ref.name": tag}}]},
          open(os.path.join(layout, "oci", "index.json"), "w"))
open(os.path.join(layout, "oci", "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
EOF
ref="$registry/tanto/postgres:$tag"
log "pushing $ref"
skopeo copy --quiet --dest-tls-verify=false "oci:$layout/oci:$tag" "docker://$ref" >&2
echo "$ref"
