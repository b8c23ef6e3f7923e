#!/usr/bin/env bash
# End-to-end check of the front door: starts `localstack/run.sh` (what `make run` runs) on
# free ports, runs the README's curl flow against it, then stops it with Ctrl-C (SIGINT)
# and checks that nothing it started is left running.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

api="127.0.0.1:$(free_port)"
log="$ROOT/.local/test-logs/e2e-run.log"
mkdir -p "$(dirname "$log")"
fail() {
  echo "e2e: $*" >&2
  echo "--- run log:" >&2
  cat "$log" >&2
  exit 1
}

# A fresh emulator of run.sh's own, not the test suite's. Job control on, so the
# background run.sh does not ignore SIGINT the way non-interactive background jobs do.
set -m
env -u AWS_ENDPOINT_URL JOBS_API_ADDR="$api" EMULATOR_PORT="$(free_port)" bash localstack/run.sh >"$log" 2>&1 &
run_pid=$!
trap 'kill -INT "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true' EXIT

wait_for_http "http://$api/openapi.json" 120 || fail "the API did not come up"

start=$(date +%s%N)
reply=$(curl -sS -X POST "http://$api/jobs")
job_id=$(jq -er .jobId <<<"$reply") || fail "POST /jobs replied $reply"
status=""
for _ in $(seq 1 200); do
  status=$(curl -sS "http://$api/jobs/$job_id" | jq -r .status)
  [[ $status == SUCCEEDED || $status == FAILED ]] && break
  sleep 0.05
done
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[[ $status == SUCCEEDED ]] || fail "job $job_id ended as '$status'"
stats=$(curl -sS "http://$api/jobs/stats")
[[ $(jq .submitted <<<"$stats") == 1 && $(jq .succeeded <<<"$stats") == 1 && $(jq .inFlight <<<"$stats") == 0 ]] ||
  fail "unexpected stats: $stats"
echo "e2e: job $job_id SUCCEEDED; submit→SUCCEEDED ${elapsed_ms} ms (polled every 50 ms); stats $(jq -c '{submitted,succeeded,failed,retries,inFlight}' <<<"$stats")"

kill -INT "$run_pid"
wait "$run_pid" || true
trap - EXIT
if port_in_use "${api##*:}"; then
  fail "the API still listens after Ctrl-C"
fi
grep -q "stopping" "$log" || fail "run.sh did not stop its components"
echo "e2e: Ctrl-C stopped everything"
