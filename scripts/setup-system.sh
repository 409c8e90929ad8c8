#!/usr/bin/env bash
# Machine setup that is environment, not product: system packages the tests rely on.
# Idempotent; safe to run on a machine that already has everything.
#   git, make, python3-venv   the build itself
#   nginx                     the canary traffic splitter (weighted upstreams, mirror)
#   prometheus                scrapes each variant's /metrics for canary analysis; promtool
#                             checks the alert rules mlgate writes
#   chromium                  renders the monitoring HTML report headless in tests
#   wrk                       load for the serving benchmarks and canary tests
set -euo pipefail

need=()
command -v git >/dev/null || need+=(git)
command -v make >/dev/null || need+=(make)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
command -v prometheus >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v wrk >/dev/null || need+=(wrk)

if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing system packages: ${need[*]} (install them, or run as root)" >&2
    exit 3
  fi
  apt-get update -qq
  # No init system here: keep package scripts from trying to start the services they install
  # (tests start their own nginx and prometheus on free ports and stop them by PID).
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
