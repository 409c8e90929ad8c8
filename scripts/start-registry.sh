#!/usr/bin/env bash
# Start a throwaway OCI registry (Debian's docker-registry, the CNCF distribution registry) on
# 127.0.0.1, plain HTTP, storage in a directory, for trying `mlgate push` by hand:
#   bash scripts/start-registry.sh [PORT] [DIR]      (defaults: 5000, a new temp dir)
#   mlgate push localhost/churn:SHA --registry 127.0.0.1:5000 --no-tls-verify
# Prints the PID; stop it with `kill PID`. The e2e tests start their own, on a free port.
set -euo pipefail

port=${1:-5000}
root=${2:-$(mktemp -d /tmp/mlgate-registry.XXXXXX)}
command -v docker-registry >/dev/null || {
  echo "docker-registry is not installed: bash scripts/setup-containers.sh" >&2
  exit 3
}
mkdir -p "$root/storage"
cat >"$root/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $root/storage
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$root/config.yml" >"$root/registry.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/', timeout=1)" 2>/dev/null; then
    echo "registry on 127.0.0.1:$port (storage $root/storage, log $root/registry.log), pid $pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$root/registry.log" >&2; exit 3; }
  sleep 0.1
done
echo "registry did not answer on 127.0.0.1:$port" >&2
kill "$pid"
exit 3
