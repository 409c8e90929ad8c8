#!/usr/bin/env bash
# Run a command with the team-scale registry up: a private MLflow tracking server on a private
# PostgreSQL cluster (scripts/start-mlflow-server.sh), its URI exported as
# MLGATE_TEST_TRACKING_URI, both stopped by PID when the command ends, also when it fails or is
# interrupted. `make test` runs the test suites through it.
#
#   scripts/with-mlflow.sh COMMAND [ARGS...]    exits with COMMAND's status
#
# A MLGATE_TEST_TRACKING_URI already set is used as it is (a server someone else runs); nothing
# is started or stopped then. Each run has its own state directory, so a run never stops a
# server that another run, on the same machine, still uses.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n ${MLGATE_TEST_TRACKING_URI:-} ]]; then
  exec "$@"
fi

state="$(mktemp -d "${TMPDIR:-/tmp}/mlgate-mlflow.XXXXXX")"
# PostgreSQL runs as its own user (root's runs) and must reach its data directory inside.
chmod 755 "$state"
export MLGATE_MLFLOW_STATE="$state"
cleanup() {
  bash scripts/start-mlflow-server.sh stop || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

MLGATE_TEST_TRACKING_URI="$(bash scripts/start-mlflow-server.sh)"
export MLGATE_TEST_TRACKING_URI
echo "with-mlflow: MLflow tracking server at $MLGATE_TEST_TRACKING_URI" >&2
# Not exec: the EXIT trap must run after the command to stop the servers.
"$@"
