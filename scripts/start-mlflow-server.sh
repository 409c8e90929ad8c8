#!/usr/bin/env bash
# Start (or reuse) the team-scale registry for tests: a private PostgreSQL cluster and an MLflow
# tracking server with that PostgreSQL as its backend store, both on 127.0.0.1 and free ports.
#
#   scripts/start-mlflow-server.sh          start if needed; print the tracking URI on stdout
#   scripts/start-mlflow-server.sh stop     stop both servers (by the PIDs recorded at start)
#
# Environment:
#   MLGATE_MLFLOW_STATE  state directory (default /tmp/mlgate-mlflow): PG data, artifacts, logs,
#                        PIDs and ports. Idempotent: a second start reuses running servers.
#   MLGATE_MLFLOW_START_TIMEOUT  seconds to wait for the server to answer (default 300)
#   VENV                 virtualenv whose mlflow runs the server (default .venv). Its PostgreSQL
#                        driver, psycopg2-binary, comes from the lock's dev extra (`make setup`).
#
# Only the URI goes to stdout, so CI can do
#   export MLGATE_TEST_TRACKING_URI="$(scripts/start-mlflow-server.sh)"
# A private cluster (not the distribution's `15 main`) keeps tests away from any other
# PostgreSQL on the machine; there is no systemd here, so servers are started directly.
set -euo pipefail

cd "$(dirname "$0")/.."
STATE="$(realpath -m "${MLGATE_MLFLOW_STATE:-/tmp/mlgate-mlflow}")"
VENV="${VENV:-.venv}"
START_TIMEOUT="${MLGATE_MLFLOW_START_TIMEOUT:-300}"
PY="$(cd "$(dirname "$VENV/bin/python")" && pwd)/python"
log() { echo "start-mlflow-server: $*" >&2; }

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

healthy() {
  "$PY" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/health", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

# PostgreSQL refuses to run as root: root runs it as the distribution's postgres user (from /,
# which that user can enter whatever the checkout's permissions), anyone else as themselves.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n "$d" ]] && echo "$d"
}

stop() {
  if alive "$STATE/mlflow.pid"; then
    local pid
    pid="$(cat "$STATE/mlflow.pid")"
    # The server forks workers into its own process group; stop the group, then wait.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    log "stopped mlflow server (pid $pid)"
  fi
  rm -f "$STATE/mlflow.pid"
  if [[ -f "$STATE/pgdata/postmaster.pid" ]]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$STATE/pgdata" -m fast -w stop >&2 || true
    log "stopped postgresql"
  fi
}

if [[ "${1:-start}" == "stop" ]]; then
  stop
  exit 0
fi

mkdir -p "$STATE"
if [[ -f "$STATE/uri" ]] && alive "$STATE/mlflow.pid" && healthy "$(cat "$STATE/uri")"; then
  cat "$STATE/uri"
  exit 0
fi

# --- install ---------------------------------------------------------------------------------
if ! "$PY" -c 'import psycopg2' 2>/dev/null; then
  log "$VENV has no psycopg2 (MLflow's PostgreSQL driver): it is in the dev extra of uv.lock;"
  log "run \`make setup\` (\`make -B setup\` if .venv was changed by hand) and start again"
  exit 3
fi
if [[ -z "$(pg_bin)" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "postgresql is not installed: sudo apt-get install -y postgresql (or sudo make system)"
    exit 3
  fi
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
PGBIN="$(pg_bin)"

# --- postgresql --------------------------------------------------------------------------------
PGDATA="$STATE/pgdata"
if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
  mkdir -p "$PGDATA"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$PGDATA"; fi
  # trust on a cluster that only listens on 127.0.0.1 and a private socket dir: test-only.
  as_pg "$PGBIN/initdb" -D "$PGDATA" --auth=trust -U postgres >/dev/null
fi
if [[ -f "$STATE/pg.port" ]]; then PGPORT="$(cat "$STATE/pg.port")"; else PGPORT="$(free_port)"; fi
echo "$PGPORT" >"$STATE/pg.port"
if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 60 -l "$PGDATA/server.log" \
    -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $PGDATA" start >&2
fi
if ! as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='mlflow'" | grep -q 1; then
  as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres mlflow
fi

# --- mlflow server ---------------------------------------------------------------------------
if [[ -f "$STATE/mlflow.port" ]]; then PORT="$(cat "$STATE/mlflow.port")"; else PORT="$(free_port)"; fi
echo "$PORT" >"$STATE/mlflow.port"
URI="http://127.0.0.1:$PORT"
mkdir -p "$STATE/artifacts"
if ! alive "$STATE/mlflow.pid"; then
  log "starting mlflow server on $URI (postgresql on 127.0.0.1:$PGPORT)"
  setsid "$VENV/bin/mlflow" server \
    --backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/mlflow" \
    --artifacts-destination "$STATE/artifacts" \
    --host 127.0.0.1 --port "$PORT" --workers 1 \
    >"$STATE/mlflow.log" 2>&1 </dev/null &
  echo $! >"$STATE/mlflow.pid"
fi
# Wait on the health endpoint with a deadline (first start runs the schema migrations; on a
# quiet machine about 15 s, on a busy shared one over two minutes).
deadline=$((SECONDS + START_TIMEOUT))
until healthy "$URI"; do
  if ! alive "$STATE/mlflow.pid"; then
    log "mlflow server exited; last log lines:"
    tail -n 30 "$STATE/mlflow.log" >&2
    exit 1
  fi
  if ((SECONDS > deadline)); then
    log "mlflow server not healthy after $START_TIMEOUT s; last log lines:"
    tail -n 30 "$STATE/mlflow.log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "$URI" >"$STATE/uri"
echo "$URI"
