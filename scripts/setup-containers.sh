#!/usr/bin/env bash
# Container tooling for the e2e tests and `mlgate build` on a Debian 12 machine without Docker's
# engine (see MACHINE.md). Idempotent: each step checks first and does nothing when done.
#   1. podman, runc, buildah, skopeo, debootstrap, docker-registry from apt;
#   2. /etc/containers/containers.conf: runc (crun fails on these hosts' hybrid cgroups) and an
#      open-file limit under the VM's hard limit;
#   3. localhost/mlgate-base:bookworm, a minimal Debian + Python 3.11 root filesystem built with
#      debootstrap, because no public registry is reachable to pull python:3.11-slim.
# Usage: bash scripts/setup-containers.sh   (root; exits 3 when it cannot set things up)
set -euo pipefail

BASE_IMAGE=${MLGATE_BASE_IMAGE:-localhost/mlgate-base:bookworm}
CONF=/etc/containers/containers.conf

as_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup-containers: $1 needs root (run this script as root)" >&2
    exit 3
  fi
}

need=()
for tool in podman runc buildah skopeo debootstrap docker-registry; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
if ((${#need[@]})); then
  as_root "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" uidmap >/dev/null
fi

want_conf='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"'
if [[ ! -f $CONF ]] || ! grep -q '^runtime = "runc"' "$CONF"; then
  as_root "writing $CONF"
  mkdir -p "$(dirname "$CONF")"
  if [[ -s $CONF ]]; then
    cp "$CONF" "$CONF.bak.$(date +%s)"
  fi
  printf '%s\n' "$want_conf" >"$CONF"
fi

# libgomp1: LightGBM's OpenMP runtime, which a LightGBM model served by scikit-learn loads (the
# other libraries carry their own); an older base image without it is built again.
if podman image exists "$BASE_IMAGE" &&
  podman run --rm --entrypoint /bin/sh "$BASE_IMAGE" -c 'ldconfig -p | grep -q libgomp.so.1' \
    >/dev/null 2>&1; then
  echo "setup-containers: $BASE_IMAGE present"
  exit 0
fi

# The mirror apt already uses: the only Debian archive this machine can reach.
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
if [[ -z $mirror ]]; then
  mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

as_root "building $BASE_IMAGE"
rootfs=$(mktemp -d /var/tmp/mlgate-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "setup-containers: debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,libgomp1 bookworm "$rootfs" "$mirror" >/dev/null
# apt lists and caches are not needed at run time; they only make the image bigger.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
tar -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/usr/bin/python3"]' - "$BASE_IMAGE" >/dev/null
echo "setup-containers: built $BASE_IMAGE"
