#!/usr/bin/env bash
# Runs the whole system on this machine: the local AWS emulator (moto, no Docker needed),
# the queue, dead-letter queue, table and schedule group, the workers, the API, a
# schedule runner that fires due schedules into the queue (the emulator never does), and
# the reconciler (stale jobs sent again, the dead-letter queue resolved), and with
# JOBS_COUNTERS=stream (the default) the counter aggregator (the table's stream read into
# the counters).
# Ctrl-C stops everything.
#
# Settings (environment):
#   JOBS_API_ADDR        where the API listens (default 127.0.0.1:3000)
#   EMULATOR_PORT        where the emulator listens (default 4566, LocalStack's port)
#   AWS_ENDPOINT_URL     use an emulator that already runs (e.g. LocalStack) instead
#   WORKER_CONCURRENCY   jobs the local worker runs at once (default 10); 0 starts no local
#                        worker, for workers elsewhere (the kind cluster of `make kind-up`)
#   JOBS_COUNTERS        stream (default, as the CDK app deploys): the table gets a stream
#                        and the counter aggregator books the counters from it (the stats
#                        trail the jobs by its lag, well under a second here); inline:
#                        counters in each job change's transaction, no aggregator
#   JOBS_DEV_PRINCIPAL   who a request is from when it names no one (default local)
#   JOBS_DEV_PRINCIPAL_HEADER  the header that names a request's caller (default
#                        x-jobs-principal; try two callers with -H 'x-jobs-principal: bob')
#   JOBS_*               any worker/API setting (see job-core/src/config.rs)
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

EMULATOR_PORT=${EMULATOR_PORT:-4566}
export JOBS_API_ADDR=${JOBS_API_ADDR:-127.0.0.1:3000}
WORKER_CONCURRENCY=${WORKER_CONCURRENCY:-10}
export JOBS_COUNTERS=${JOBS_COUNTERS:-stream}
export JOBS_DEV_PRINCIPAL=${JOBS_DEV_PRINCIPAL:-local}
export JOBS_DEV_PRINCIPAL_HEADER=${JOBS_DEV_PRINCIPAL_HEADER:-x-jobs-principal}
LOGS="$ROOT/.local/logs"
mkdir -p "$LOGS"

pids=()
stop_requested=""
# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
  trap - EXIT INT TERM HUP
  if ((${#pids[@]})); then
    echo "==> stopping"
    stop_pids "${pids[@]}"
  fi
  if [[ -n $stop_requested ]]; then
    echo "stopped"
  fi
}
trap cleanup EXIT
# Ctrl-C (or SIGTERM, or the terminal closing) is the normal way to stop: exit 0.
trap 'stop_requested=1; exit 0' INT TERM HUP

# start_component LOG CMD...: starts CMD in the background in its own process group, so
# that Ctrl-C, which the terminal sends to the whole foreground group, reaches only this
# script; the cleanup above then stops the components in order. Without this a component
# that exits on SIGINT by itself would look like one that stopped unexpectedly. Its input
# and output stay off the terminal (a background group touching it could be stopped).
start_component() {
  local log=$1
  shift
  set -m
  "$@" </dev/null >>"$log" 2>&1 &
  pids+=("$!")
  set +m
}

if port_in_use "${JOBS_API_ADDR##*:}"; then
  echo "error: ${JOBS_API_ADDR} is in use; stop what runs there or set JOBS_API_ADDR" >&2
  exit 1
fi

echo "==> building"
cargo build --quiet --bins
BIN="$ROOT/target/debug"

if [[ -z "${AWS_ENDPOINT_URL:-}" ]]; then
  ensure_emulator_venv
  start_emulator "$EMULATOR_PORT" "$LOGS/emulator.log"
  pids+=("$EMULATOR_PID")
  echo "==> emulator on $AWS_ENDPOINT_URL"
else
  echo "==> using the AWS endpoint $AWS_ENDPOINT_URL"
fi

echo "==> creating queue, dead-letter queue, table and schedule group"
provisioned=$("$BIN/provision" local)
while IFS='=' read -r name value; do
  export "$name=$value"
done <<<"$provisioned"

if [[ $WORKER_CONCURRENCY == 0 ]]; then
  echo "==> no local worker (WORKER_CONCURRENCY=0): jobs wait for workers elsewhere, e.g. make kind-up's cluster"
else
  start_component "$LOGS/worker.log" "$BIN/data-processor" --concurrency "$WORKER_CONCURRENCY"
fi
# Emulators store schedules but never fire them: this local stand-in does.
start_component "$LOGS/schedule-runner.log" "$BIN/schedule-runner"
# The reconciler: on AWS a Lambda on a rate() schedule; here a process.
start_component "$LOGS/reconciler.log" "$BIN/reconciler"
# The counter aggregator: on AWS a Lambda on the table's stream; here a process polling it.
if [[ $JOBS_COUNTERS == stream ]]; then
  start_component "$LOGS/counter-aggregator.log" "$BIN/counter-aggregator"
fi
start_component "$LOGS/api.log" "$BIN/local-api"
if ! wait_for_http "http://$JOBS_API_ADDR/openapi.json" 30; then
  echo "error: the API did not start; see $LOGS/api.log" >&2
  exit 1
fi

cat <<MSG

  Job API:   http://$JOBS_API_ADDR        (OpenAPI: http://$JOBS_API_ADDR/openapi.json)
  Emulator:  $AWS_ENDPOINT_URL
  Queue:     $JOBS_QUEUE_URL
  Table:     $JOBS_TABLE_NAME
  Counters:  $JOBS_COUNTERS
  Callers:   $JOBS_DEV_PRINCIPAL, or whoever the $JOBS_DEV_PRINCIPAL_HEADER header names
  Logs:      .local/logs/{api,worker,schedule-runner,reconciler,counter-aggregator,emulator}.log (JSON lines)

  Try:  curl -s -X POST http://$JOBS_API_ADDR/jobs
        curl -s http://$JOBS_API_ADDR/jobs/stats
        curl -s http://$JOBS_API_ADDR/jobs/schedule --json '{"cron":"* * * * *"}'

  Ctrl-C stops everything.
MSG

# Stop when any part stops by itself (Ctrl-C only reaches this script, see start_component).
set +e
wait -n "${pids[@]}"
status=$?
echo "error: a component stopped (exit $status); see $LOGS" >&2
exit 1
