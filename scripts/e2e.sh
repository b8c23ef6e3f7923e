#!/usr/bin/env bash
# End-to-end check of the front door: starts `make run` on free ports, runs the README's
# curl flow against it, then stops it the way a terminal's Ctrl-C does (SIGINT to the whole
# process group) and checks that it stopped cleanly and that nothing it started is left.
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

# A fresh emulator of run.sh's own, not the test suite's. `make run` gets a session and
# process group of its own, like a terminal's foreground job (its id is make's pid), with
# SIGINT handled by default (a background job of a script would start with it ignored).
env -u AWS_ENDPOINT_URL JOBS_API_ADDR="$api" EMULATOR_PORT="$(free_port)" \
  setsid env --default-signal=INT make --no-print-directory run >"$log" 2>&1 </dev/null &
run_pid=$!
# Whatever is still in the session (make, run.sh and everything run.sh started).
left_running() {
  ps -o pid=,args= -s "$run_pid" || true
}
# shellcheck disable=SC2329  # invoked by the EXIT trap
stop_run() {
  kill -INT -- "-$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  local pid
  for pid in $(ps -o pid= -s "$run_pid"); do
    kill "$pid" 2>/dev/null || true
  done
}
trap stop_run EXIT

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
# `make run` counts from the table's stream: the stats trail the job by the counter
# aggregator's lag, so they are polled (every 50 ms, for at most 5 s) until they show it.
counted_start=$(date +%s%N)
counted=""
for _ in $(seq 1 100); do
  stats=$(curl -sS "http://$api/jobs/stats")
  if [[ $(jq .submitted <<<"$stats") == 1 && $(jq .succeeded <<<"$stats") == 1 && $(jq .inFlight <<<"$stats") == 0 ]]; then
    counted=1
    break
  fi
  sleep 0.05
done
lag_ms=$((($(date +%s%N) - counted_start) / 1000000))
[[ -n $counted ]] || fail "the stats did not show the job within 5 s: $stats"
echo "e2e: job $job_id SUCCEEDED; submit→SUCCEEDED ${elapsed_ms} ms (polled every 50 ms); counted ${lag_ms} ms later; stats $(jq -c '{submitted,succeeded,failed,retries,inFlight}' <<<"$stats")"

# The stage's route rates apply locally too: GET /openapi.json takes 5 a second in bursts
# of 10 (settings/throttles.json), so 30 at once see 429s with API Gateway's body.
codes=""
throttled=""
for _ in $(seq 1 30); do
  answer=$(curl -s -w '\n%{http_code}' "http://$api/openapi.json")
  code=${answer##*$'\n'}
  codes+="$code "
  if [[ $code == 429 ]]; then throttled=${answer%$'\n'*}; fi
done
[[ $codes == *"200 "* && -n $throttled ]] || fail "30 requests at once to GET /openapi.json answered: $codes(expected 200s, then 429s)"
[[ $(jq -r .message <<<"$throttled") == "Too Many Requests" ]] || fail "a throttled request answered $throttled"
codes=$(tr ' ' '\n' <<<"$codes" | grep . | sort | uniq -c | awk '{printf "%s%s × %s", sep, $1, $2; sep=", "}')
echo "e2e: 30 requests at once to GET /openapi.json answered $codes (its rate is 5/s, bursts of 10)"

# Ctrl-C: the terminal sends SIGINT to the foreground process group.
kill -INT -- "-$run_pid"
set +e
wait "$run_pid"
status=$?
set -e
# run.sh ends with 0; make then re-raises the SIGINT on itself, as GNU make does after any
# interrupted recipe, so the shell sees 130. A failing recipe would make it exit 2 instead.
((status == 130)) || fail "make run exited $status after Ctrl-C, expected 130 (interrupted, recipe exit 0)"
grep -qx "stopped" "$log" || fail "run.sh did not say it stopped"
! grep -qE '^error|\*\*\* .*Error' "$log" || fail "Ctrl-C was reported as an error"
deadline=$((SECONDS + 10))
while [[ -n $(left_running) ]] && ((SECONDS < deadline)); do
  sleep 0.2
done
[[ -z $(left_running) ]] || fail "still running after Ctrl-C: $(left_running)"
trap - EXIT
if port_in_use "${api##*:}"; then
  fail "the API still listens after Ctrl-C"
fi
echo "e2e: Ctrl-C stopped everything: run.sh said 'stopped', make ended by the SIGINT (130), nothing left"
