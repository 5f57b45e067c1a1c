#!/usr/bin/env bash
# Gives an existing user what tanto's rootless mode needs, once, as root:
# 65536 subordinate UIDs and GIDs (/etc/subuid, /etc/subgid) from a range no
# other user has, so the user's containers can have files and processes of
# users other than root (without them tanto maps only the user's own ID and
# says so). Then it checks the rest of what rootless mode uses: the packages
# (uidmap: newuidmap/newgidmap; slirp4netns: container networks;
# fuse-overlayfs and passt: other backends), /dev/net/tun and /dev/fuse usable
# by everyone, and unprivileged user namespaces. `tanto doctor`, run as the
# user, then says how tanto will run.
#   sudo scripts/rootless-user.sh USER
# Idempotent: a user who has ranges keeps them. Exits 1 when something is
# still missing (each named, with the command that fixes it).
set -euo pipefail

user=${1:-}
if [ -z "$user" ] || [ "$#" -ne 1 ]; then
  echo "usage: $0 USER" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: run it as root (it edits /etc/subuid and /etc/subgid)" >&2
  exit 2
fi
if ! id -u "$user" >/dev/null 2>&1; then
  echo "$0: no user \`$user\` (create one first: useradd -m $user)" >&2
  exit 2
fi
uid=$(id -u "$user")
if [ "$uid" -eq 0 ]; then
  echo "$0: \`$user\` is root: root runs tanto without a user namespace" >&2
  exit 2
fi
count=65536

# The range of USER (by name or uid) in FILE, as "start count", if any.
range_of() {
  awk -F: -v u="$user" -v id="$uid" '($1 == u || $1 == id) && $3 > 0 { print $2, $3; exit }' "$1" 2>/dev/null || true
}

# The first ID after every range of both files (and not below 100000, where
# Debian's useradd starts: SUB_UID_MIN in /etc/login.defs).
next_free() {
  cat /etc/subuid /etc/subgid 2>/dev/null |
    awk -F: 'BEGIN { n = 100000 } $3 > 0 && $2 + $3 > n { n = $2 + $3 } END { print n }'
}

touch /etc/subuid /etc/subgid
read -r have_uid _ <<<"$(range_of /etc/subuid)" || true
read -r have_gid _ <<<"$(range_of /etc/subgid)" || true
if [ -n "${have_uid:-}" ] && [ -n "${have_gid:-}" ]; then
  echo "rootless-user: $user has subordinate IDs: uids $(range_of /etc/subuid), gids $(range_of /etc/subgid) (start count)" >&2
else
  start=$(next_free)
  end=$((start + count - 1))
  args=()
  [ -n "${have_uid:-}" ] || args+=(--add-subuids "$start-$end")
  [ -n "${have_gid:-}" ] || args+=(--add-subgids "$start-$end")
  usermod "${args[@]}" "$user"
  echo "rootless-user: gave $user subordinate IDs $start-$end (${args[*]})" >&2
fi

problems=()
missing=()
for p in uidmap slirp4netns fuse-overlayfs passt; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] || problems+=("packages missing: apt-get install -y ${missing[*]}")
for dev in /dev/net/tun /dev/fuse; do
  if [ ! -c "$dev" ]; then
    problems+=("$dev is missing (load the kernel module: modprobe ${dev##*/})")
  elif [ "$(stat -c %a "$dev")" != 666 ]; then
    # what udev's rules do on a normal system; a container or VM without udev leaves them 0600
    problems+=("$dev is not usable by every user (mode $(stat -c %a "$dev")): chmod 0666 $dev")
  fi
done
if [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" -eq 0 ]; then
  problems+=("user namespaces are off: sysctl -w user.max_user_namespaces=15000")
fi
if [ -e /proc/sys/kernel/unprivileged_userns_clone ] && [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" != 1 ]; then
  problems+=("unprivileged user namespaces are off: sysctl -w kernel.unprivileged_userns_clone=1")
fi
if [ "${#problems[@]}" -gt 0 ]; then
  for p in "${problems[@]}"; do echo "rootless-user: $p" >&2; done
  exit 1
fi
echo "rootless-user: ready; as $user, \`tanto doctor\` says how tanto runs" >&2
