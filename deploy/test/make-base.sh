#!/usr/bin/env bash
# Makes the test base image (default localhost/facegate-base:bookworm) where no container registry
# is reachable: Debian bookworm (debootstrap, minbase) plus this machine's Bun at /usr/local/bin/bun,
# the same layout as the documented default base (docker.io/oven/bun:1.4-debian).
#
#   deploy/test/make-base.sh            # make it unless it exists (a cache between CI runs)
#   REBUILD=1 deploy/test/make-base.sh  # make it again
#
# Environment: FACEGATE_BASE_IMAGE (the tag), DEBIAN_MIRROR (debootstrap's mirror; its default if unset),
# CONTAINERS_CONF (podman's settings: deploy/test/containers.conf when unset).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
image="${FACEGATE_BASE_IMAGE:-localhost/facegate-base:bookworm}"
bun_bin=$(readlink -f "$(command -v bun)")
bun_version=$("$bun_bin" --version)

if [ -z "${REBUILD:-}" ] && podman image exists "$image" &&
  [ "$(podman image inspect --format '{{ index .Labels "bun.version" }}' "$image" 2>/dev/null)" = "$bun_version" ]; then
  echo "base image $image (bun $bun_version) exists; REBUILD=1 makes it again"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
root=$(mktemp -d /tmp/facegate-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$SECONDS
echo "debootstrap bookworm (minbase) into $root ..."
debootstrap --variant=minbase bookworm "$root" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >"$root.log" 2>&1 ||
  { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
install -m 0755 "$bun_bin" "$root/usr/local/bin/bun"
ln -sf bun "$root/usr/local/bin/bunx"
# what a base image leaves out: package lists, caches, logs
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*
tar -C "$root" --numeric-owner -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL bun.version=$bun_version" \
  - "$image" >/dev/null
echo "made $image (bookworm minbase + bun $bun_version) in $((SECONDS - start)) s"
