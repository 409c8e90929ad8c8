#!/usr/bin/env bash
# Machine setup that is environment, not product: every system package and piece of machine
# state the build and the tests rely on (`make system`; `make check` runs it first).
#   git, make, python3-venv   the build itself
#   nginx                     the canary traffic splitter (weighted upstreams, mirror)
#   prometheus                scrapes each variant's /metrics for canary analysis; promtool
#                             checks the alert rules mlgate writes
#   chromium                  renders the monitoring HTML report headless in tests
#   wrk                       load for the serving benchmarks and canary tests
#   curl                      the README's tour sends the served model a request with it
#   iproute2 (ip), util-linux (unshare, nsenter)
#                             the Ray cluster of the tests, in a network namespace of its own
#   postgresql                the backend of the MLflow tracking server the registry tests use
#   redis-server              the online feature store at scale (Feast's Redis online store) in
#                             the feature-store tests
#   podman runc buildah skopeo debootstrap docker-registry uidmap
#                             image builds, the local OCI registry, the base image (e2e)
#   /etc/containers/containers.conf and localhost/mlgate-base:bookworm
#                             written and built by scripts/setup-containers.sh
#
# Idempotent and fast when everything is there (it only probes). As root it installs what is
# missing; otherwise it names each missing package and the command that installs it, and
# exits 3 before anything long runs.
# Usage: bash scripts/setup-system.sh [--check]   (--check: only report, never install)
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${MLGATE_BASE_IMAGE:-localhost/mlgate-base:bookworm}
CONF=/etc/containers/containers.conf
check_only=0
[[ ${1:-} == --check ]] && check_only=1
log() { echo "setup-system: $*" >&2; }

# A non-root PATH often lacks the sbin directories where nginx, runc and debootstrap live.
have() { PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" >/dev/null; }

# Two groups: podman's recommends (networking, storage helpers) are part of what makes it work
# here, the other packages' recommends (fonts, desktop helpers) are not needed.
missing=()
why=()
need=()
need_ct=()
want() { missing+=("$1"); why+=("$2"); need+=("$1"); }
want_ct() { missing+=("$1"); why+=("$2"); need_ct+=("$1"); }
have git || want git "the build"
have make || want make "the build"
python3 -c 'import venv, ensurepip' 2>/dev/null || want python3-venv "the build's virtualenv"
have nginx || want nginx "the canary traffic splitter"
have prometheus && have promtool || want prometheus "canary analysis; promtool checks alert rules"
have chromium || want chromium "renders the monitoring HTML report"
have wrk || want wrk "load for the canary tests and benchmarks"
have curl || want curl "the README tour's request to the server"
have ip || want iproute2 "loopback in the Ray tests' network namespace"
have unshare && have nsenter || want util-linux "the Ray tests' network namespace"
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
  want postgresql "the MLflow tracking server's backend store"
have redis-server || want redis-server "Feast's Redis online store (feature-store tests)"
for tool in podman runc buildah skopeo debootstrap docker-registry; do
  have "$tool" || want_ct "$tool" "image builds and the local OCI registry (e2e)"
done
have newuidmap || want_ct uidmap "podman's user namespaces"

# Machine state beyond packages: only root can write it, so only root's store is checked.
state=()
if [[ ! -f $CONF ]] || ! grep -q '^runtime = "runc"' "$CONF"; then
  state+=("$CONF: podman's runtime (runc) and open-file limit for this VM")
fi
if [[ $(id -u) -eq 0 ]] && ! { have podman && podman image exists "$BASE_IMAGE"; }; then
  state+=("$BASE_IMAGE: the local base image of the e2e image builds")
fi

if ((${#missing[@]} == 0 && ${#state[@]} == 0)); then
  log "every system package and service the tests need is here"
  exit 0
fi

if [[ $(id -u) -ne 0 || $check_only -eq 1 ]]; then
  if ((${#missing[@]})); then
    log "missing system packages:"
    for i in "${!missing[@]}"; do printf '  %-16s %s\n' "${missing[$i]}" "${why[$i]}" >&2; done
    log "install them with:"
    if ((${#need[@]})); then
      printf '  sudo apt-get install -y --no-install-recommends %s\n' "${need[*]}" >&2
    fi
    if ((${#need_ct[@]})); then
      printf '  sudo apt-get install -y %s\n' "${need_ct[*]}" >&2
    fi
  fi
  if ((${#state[@]})); then
    log "missing machine setup (root writes it: sudo bash scripts/setup-containers.sh):"
    printf '  %s\n' "${state[@]}" >&2
  fi
  if have make; then
    log "or set up everything the tests need in one step: sudo make system"
  else
    log "or set up everything the tests need in one step: sudo bash scripts/setup-system.sh"
  fi
  exit 3
fi

if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq
  # No init system here: keep package scripts from trying to start the services they install
  # (tests start their own nginx, prometheus, postgresql and redis-server on free ports and stop
  # them by PID).
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >/dev/null
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
fi
# The container tools (with their recommends), containers.conf and the base image; it checks
# each step and skips what is done.
bash scripts/setup-containers.sh
