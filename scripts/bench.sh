#!/usr/bin/env bash
# Prints figures for the local system (not a test; numbers depend on the machine):
#   - AWS requests per successful job by operation, counted at the wire: the API, the
#     worker and (counting from the stream, the default) the counter aggregator each reach
#     the emulator through a fault proxy of their own (no faults set;
#     local-dev/src/fault_proxy.rs counts requests by operation), in loop mode under load,
#     per retry, in --once mode (one process per job, as KEDA runs it), and the idle
#     requests of a worker process and of the aggregator per hour;
#   - submit→SUCCEEDED latency over sequential jobs (p50, p95, p99, max);
#   - throughput of a burst of jobs with the default worker concurrency, and the emulator's
#     own ceiling for the same request mix (the `emulator-ceiling` binary replays it straight
#     at the emulator with the same concurrency and batch size, on a queue and table of its
#     own, through a counting proxy too), as a ratio;
#   - DynamoDB write units per job, table and indexes, booked at the wire by the proxies from
#     the sizes of the items written (the emulator reports none; local-dev/src/write_units.rs),
#     in the mode the bench runs and, after a stream-mode run, in a short inline phase;
#   - CPU milliseconds per job and peak RSS of the API and the worker over that burst;
#   - a Lambda binary's cold start (release build, local Runtime API stand-in) and zip sizes;
#   - the emulator's TransactWriteItems cost by table size (localstack/emulator_bench.py).
# The schedule runner and the reconciler are not started: they cost nothing per job
# (docs/deploy.md states the reconciler's idle cost).
# Usage: scripts/bench.sh [SEQUENTIAL_JOBS] [BURST_JOBS]
# Settings: BENCH_COUNTERS (stream, the default of make run and the CDK app, or inline),
#           WORKER_CONCURRENCY (default 10), BENCH_ONCE_JOBS (default 20),
#           BENCH_RETRY_JOBS (default 50), BENCH_IDLE_SECS (default 60),
#           BENCH_WCU_JOBS (default 20), BENCH_SCHEDULES (default 120).
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

sequential=${1:-50}
burst=${2:-200}
concurrency=${WORKER_CONCURRENCY:-10}
once_jobs=${BENCH_ONCE_JOBS:-20}
retry_jobs=${BENCH_RETRY_JOBS:-50}
idle_secs=${BENCH_IDLE_SECS:-60}
wcu_jobs=${BENCH_WCU_JOBS:-20}
counters=${BENCH_COUNTERS:-stream}
case $counters in
  stream | inline) ;;
  *) echo "bench: BENCH_COUNTERS=$counters is invalid: expected stream or inline" >&2; exit 2 ;;
esac
api="127.0.0.1:$(free_port)"
LOGS="$ROOT/.local/logs/bench"
mkdir -p "$LOGS"
BIN="$ROOT/target/debug"

pids=()
# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
  if ((${#pids[@]})); then stop_pids "${pids[@]}"; fi
}
trap cleanup EXIT

cargo build --quiet --bins

ensure_emulator_venv
start_emulator "$(free_port)" "$LOGS/emulator.log"
pids+=("$EMULATOR_PID")
while IFS='=' read -r name value; do export "$name=$value"; done < <(JOBS_COUNTERS=$counters "$BIN/provision" local)
echo "counters: $JOBS_COUNTERS"

# start_proxy NAME: a counting proxy in front of the emulator; sets PROXY_URL and CONTROL_URL.
start_proxy() {
  local name=$1 out="$LOGS/proxy-$1.out"
  "$BIN/fault-proxy" --upstream "$AWS_ENDPOINT_URL" >"$out" 2>>"$LOGS/proxy-$name.log" &
  pids+=("$!")
  for _ in $(seq 1 300); do
    grep -q '^CONTROL_URL=' "$out" 2>/dev/null && break
    sleep 0.1
  done
  PROXY_URL=$(sed -n 's/^PROXY_URL=//p' "$out")
  CONTROL_URL=$(sed -n 's/^CONTROL_URL=//p' "$out")
  [[ -n $CONTROL_URL ]] || { echo "bench: the $name proxy did not start" >&2; exit 1; }
}
start_proxy api
api_proxy_url=$PROXY_URL api_proxy_control=$CONTROL_URL
start_proxy worker
worker_proxy_url=$PROXY_URL worker_proxy_control=$CONTROL_URL
# The proxies whose counts make a job's cost: the API's, the worker's and the aggregator's.
controls=("$api_proxy_control" "$worker_proxy_control")
counts() { curl -sf "$1/counts"; }
reset_counts() { curl -sf -X DELETE "$1/counts" >/dev/null; }

AWS_ENDPOINT_URL=$api_proxy_url JOBS_API_ADDR=$api JOBS_API_THROTTLE=off "$BIN/local-api" >>"$LOGS/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
start_worker() {
  AWS_ENDPOINT_URL=$worker_proxy_url "$BIN/data-processor" --concurrency "$concurrency" >>"$LOGS/worker.log" 2>&1 &
  worker_pid=$!
  pids+=("$worker_pid")
}
start_worker
# Counting from the stream: the counter aggregator, as make run starts it, through a
# counting proxy of its own.
aggregator_pid=""
if [[ $counters == stream ]]; then
  start_proxy aggregator
  aggregator_proxy_control=$CONTROL_URL
  controls+=("$aggregator_proxy_control")
  AWS_ENDPOINT_URL=$PROXY_URL "$BIN/counter-aggregator" >>"$LOGS/counter-aggregator.log" 2>&1 &
  aggregator_pid=$!
  pids+=("$aggregator_pid")
fi
wait_for_http "http://$api/openapi.json" 60 || { tail -20 "$LOGS/api.log"; exit 1; }

# Each stats read the bench makes is counted (it runs in a subshell: in a file).
polls_file="$LOGS/stats-polls"
succeeded() {
  echo >>"$polls_file"
  curl -s "http://$api/jobs/stats" | jq .succeeded
}
stats_polls() { wc -l <"$polls_file"; }
# submit_burst N BODY: submits N jobs with 16 clients at once; prints how many were accepted.
submit_burst() {
  seq 1 "$1" | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "http://$api/jobs" \
    -H 'content-type: application/json' -d "$2" | grep -c '^202$' || true
}
# wait_succeeded BASE N: until N more jobs than BASE succeeded (at most 300 s).
wait_succeeded() {
  local deadline=$((SECONDS + 300))
  until (($(succeeded) - $1 >= $2)); do
    ((SECONDS < deadline)) || { echo "bench: not all $2 jobs succeeded within 300 s" >&2; exit 1; }
    sleep 0.2
  done
}
# cpu_ms PID: user + system CPU time of a process so far, in ms.
cpu_ms() {
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo $((ticks * 1000 / $(getconf CLK_TCK)))
}
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# per_job JSON JOBS [EXCLUDE]: "Op n (n/job)" for each operation, then the total per job.
per_job() {
  jq -r --argjson jobs "$2" --arg exclude "${3:-}" '
    (.requests | to_entries | map(select(.key != $exclude))) as $ops
    | ($ops | map(.value) | add // 0) as $total
    | ($ops | map("\(.key) \(.value) (\(.value / $jobs * 100 | round / 100)/job)") | join(", "))
      + "; total \($total / $jobs * 100 | round / 100) per job"
      + (if .emptyReceives > 0 then " (\(.emptyReceives) empty receives among them)" else "" end)
      + ", \(.messagesReceived) messages received"' <<<"$1"
}
ratio() { jq -n "($1) * 100 | round / 100"; }
# aggregator_line JOBS: the aggregator's requests per job since its counts were reset, and
# their total per job (0 when counting inline).
aggregator_total=0
aggregator_line() {
  [[ -n $aggregator_pid ]] || return 0
  local c
  c=$(counts "$aggregator_proxy_control")
  aggregator_total=$(jq '[.requests[]] | add // 0' <<<"$c")
  echo "  aggregator:  $(per_job "$c" "$1" | sed 's/, 0 messages received$//')"
}

echo "== requests per successful job, counted at the wire =="
curl -s -X POST "http://$api/jobs" >/dev/null # warm-up
wait_succeeded 0 1

# 1. Loop mode under load: a burst, and what each side sent for it.
for control in "${controls[@]}"; do reset_counts "$control"; done
: >"$polls_file"
base=$(succeeded)
api_cpu=$(cpu_ms "$api_pid")
worker_cpu=$(cpu_ms "$worker_pid")
start=$(date +%s%N)
accepted=$(submit_burst "$burst" '{"task":"sleep","input":{"ms":0}}')
submitted_ms=$((($(date +%s%N) - start) / 1000000))
wait_succeeded "$base" "$accepted"
total_ms=$((($(date +%s%N) - start) / 1000000))
api_cpu=$(($(cpu_ms "$api_pid") - api_cpu))
worker_cpu=$(($(cpu_ms "$worker_pid") - worker_cpu))
api_counts=$(counts "$api_proxy_control")
worker_counts=$(counts "$worker_proxy_control")
api_total=$(jq '[.requests | to_entries[] | select(.key != "BatchGetItem") | .value] | add' <<<"$api_counts")
worker_total=$(jq '[.requests[]] | add' <<<"$worker_counts")
stats_reads=$(jq '.requests.BatchGetItem // 0' <<<"$api_counts")
echo "loop mode, burst of $accepted jobs, worker concurrency $concurrency:"
echo "  API side:    $(per_job "$api_counts" "$accepted" BatchGetItem)"
echo "  worker side: $(per_job "$worker_counts" "$accepted")"
echo "  end to end:  $(ratio "($api_total + $worker_total) / $accepted") requests per successful job (API and worker)"
aggregator_line "$accepted"
if [[ -n $aggregator_pid ]]; then
  echo "  with the aggregator's: $(ratio "($api_total + $worker_total + $aggregator_total) / $accepted") requests per successful job" \
    "(on AWS its stream reads are made by Lambda's event source mapping, free of charge; its bookings and checkpoint reads are the table's)"
fi
polls=$(stats_polls)
echo "  GET /jobs/stats: $stats_reads BatchGetItem for the bench's $polls stats reads ($(ratio "$stats_reads / $polls") per read)"
echo "burst throughput: submitted in $submitted_ms ms, all SUCCEEDED after $total_ms ms ($(ratio "$accepted * 1000 / $total_ms") jobs/s)"
echo "CPU per job over the burst: API $(ratio "$api_cpu / $accepted") ms, worker $(ratio "$worker_cpu / $accepted") ms"

# The emulator's ceiling for the same mix: as many messages per receive and per delete as
# the worker's burst had, the same concurrency, 16 submitting clients, no process of ours.
batch=$(jq '(.messagesReceived / ([(.requests.ReceiveMessage // 1) - .emptyReceives, 1] | max)) | round' <<<"$worker_counts")
start_proxy ceiling
ceiling_control=$CONTROL_URL
ceiling_out=$(
  while IFS='=' read -r name value; do export "$name=$value"; done < <("$BIN/provision" bench-ceiling)
  AWS_ENDPOINT_URL=$PROXY_URL "$BIN/emulator-ceiling" --jobs "$accepted" --submitters 16 \
    --concurrency "$concurrency" --batch "$batch" 2>>"$LOGS/ceiling.log"
)
ceiling_rate=$(sed -n 's/^CEILING_JOBS_PER_SEC=//p' <<<"$ceiling_out")
ceiling_counts=$(counts "$ceiling_control")
echo "emulator ceiling, the same mix replayed straight at it ($accepted jobs, concurrency $concurrency, $batch messages per receive and per delete):"
echo "  requests:    $(per_job "$ceiling_counts" "$accepted")"
echo "  $ceiling_rate jobs/s; the system's burst reached $(ratio "$accepted * 1000 / $total_ms / $ceiling_rate * 100") % of it"

# 2. Retries: jobs that fail once, in loop mode.
reset_counts "$worker_proxy_control"
base=$(succeeded)
accepted_retry=$(submit_burst "$retry_jobs" '{"task":"flaky","input":{"failAttempts":1}}')
wait_succeeded "$base" "$accepted_retry"
retry_counts=$(counts "$worker_proxy_control")
retry_total=$(jq '[.requests[]] | add' <<<"$retry_counts")
echo "loop mode, $accepted_retry jobs failing once:"
echo "  worker side: $(per_job "$retry_counts" "$accepted_retry")"
retry_own=$(jq '((.requests.PutItem // 0) + (.requests.TransactWriteItems // 0)) / .messagesReceived - 1' <<<"$retry_counts")
retry_heartbeat=$(jq '((.requests.UpdateItem // 0) - .messagesReceived + (.requests.ChangeMessageVisibility // 0)) / .messagesReceived' <<<"$retry_counts")
retry_writes="PutItem and TransactWriteItems"
[[ $counters == inline ]] || retry_writes="two PutItem"
echo "  one retry adds $(ratio "$retry_own") requests (the failed attempt's outcome and the next attempt's claim: $retry_writes)," \
  "plus $(ratio "$retry_heartbeat") a job of heartbeat renewals while a message is held through the retry delay;" \
  "$(ratio "$retry_total / $accepted_retry - $worker_total / $accepted") more than a job of the burst in all (batch sizes differ)"

# DynamoDB write units per job: booked by the proxies for a few more jobs (it slows the
# writes, so not during the burst above).
# write_units MODE: submits BENCH_WCU_JOBS jobs and prints their write units by side.
write_units() {
  local control accepted_wcu side all=() base
  for control in "${controls[@]}"; do
    reset_counts "$control"
    curl -sf -X PUT "$control/write-units" -d true >/dev/null
  done
  base=$(succeeded)
  accepted_wcu=$(submit_burst "$wcu_jobs" '{"task":"sleep","input":{"ms":0}}')
  wait_succeeded "$base" "$accepted_wcu"
  sleep 1.5 # the last batch delete, the aggregator's last booking
  for control in "${controls[@]}"; do
    curl -sf -X PUT "$control/write-units" -d false >/dev/null
    all+=("$(counts "$control")")
  done
  units() { jq -r --argjson jobs "$2" '"\(.writeUnits / $jobs * 100 | round / 100) on the table + \(.indexWriteUnits / $jobs * 100 | round / 100) on indexes"' <<<"$1"; }
  echo "DynamoDB write units per successful job, counting $1 ($accepted_wcu jobs, from the sizes of the items written, counted at the wire):"
  local names=("API side:   " "worker side:" "aggregator: ")
  for side in "${!all[@]}"; do
    echo "  ${names[$side]} $(units "${all[$side]}" "$accepted_wcu")"
  done
  echo "  in all:      $(printf '%s\n' "${all[@]}" | jq -rs --argjson jobs "$accepted_wcu" \
    '(map(.writeUnits) | add / $jobs * 100 | round / 100) as $t | (map(.indexWriteUnits) | add / $jobs * 100 | round / 100) as $i | "\($t) + \($i) = \(($t + $i) * 100 | round / 100) WCU"')"
}
write_units "$counters"

# 3. Latency, one job at a time, polling GET /jobs/{id} every 10 ms.
latencies=()
for _ in $(seq 1 "$sequential"); do
  start=$(date +%s%N)
  id=$(curl -s -X POST "http://$api/jobs" -H 'content-type: application/json' -d '{"task":"sleep","input":{"ms":0}}' | jq -r .jobId)
  until [[ $(curl -s "http://$api/jobs/$id" | jq -r .status) == SUCCEEDED ]]; do sleep 0.01; done
  latencies+=($((($(date +%s%N) - start) / 1000000)))
done
sorted=$(printf '%s\n' "${latencies[@]}" | sort -n)
pick() { sed -n "$(((${#latencies[@]} * $1 + 99) / 100))p" <<<"$sorted"; }
echo "submit→SUCCEEDED over $sequential sequential jobs: p50 $(pick 50) ms, p95 $(pick 95) ms, p99 $(pick 99) ms, max $(tail -1 <<<"$sorted") ms"
echo "peak RSS: API $(($(peak_rss_kib "$api_pid") / 1024)) MiB, worker $(($(peak_rss_kib "$worker_pid") / 1024)) MiB"

# 4. Idle: a worker process (and the aggregator) with nothing to do, for BENCH_IDLE_SECS.
sleep 1
for control in "${controls[@]}"; do reset_counts "$control"; done
sleep "$idle_secs"
idle=$(counts "$worker_proxy_control")
idle_polls=$(jq '.requests.ReceiveMessage // 0' <<<"$idle")
echo "idle worker process (--concurrency $concurrency): $idle_polls long polls in $idle_secs s," \
  "$((idle_polls * 3600 / idle_secs)) per worker-hour ($(jq '[.requests[]] | add // 0' <<<"$idle") requests in all)"
if [[ -n $aggregator_pid ]]; then
  idle=$(counts "$aggregator_proxy_control")
  echo "idle counter aggregator (polling the stream every ${JOBS_AGGREGATOR_POLL_MS:-200} ms when idle): $(jq '[.requests[]] | add // 0' <<<"$idle") requests in $idle_secs s," \
    "$(($(jq '[.requests[]] | add // 0' <<<"$idle") * 3600 / idle_secs)) per hour ($(jq -r '.requests | to_entries | map("\(.key) \(.value)") | join(", ")' <<<"$idle"))"
fi

# 4a. Reads a caller controls: a page of the job listing, and a page of schedules, counted
#     at the API's proxy (a listing page queries every shard of its index; a schedules page
#     is one ListSchedules and one BatchGetItem of the schedules' copies, whatever the count).
op_counts() { jq -r '[.requests | to_entries[] | "\(.key) \(.value)"] | join(", ")' <<<"$1"; }
op_total() { jq '[.requests[]] | add // 0' <<<"$1"; }
reset_counts "$api_proxy_control"
curl -sf -o /dev/null "http://$api/jobs?limit=50" || { echo "bench: GET /jobs failed" >&2; exit 1; }
listing=$(counts "$api_proxy_control")
reset_counts "$api_proxy_control"
curl -sf -o /dev/null "http://$api/jobs?limit=50&status=FAILED" || { echo "bench: GET /jobs?status= failed" >&2; exit 1; }
filtered=$(counts "$api_proxy_control")
echo "listing: a page of 50 jobs $(op_total "$listing") requests ($(op_counts "$listing")); of FAILED jobs $(op_total "$filtered") ($(op_counts "$filtered"))"
bench_schedules=${BENCH_SCHEDULES:-120}
for i in $(seq 1 "$bench_schedules"); do
  curl -sf -o /dev/null -X POST "http://$api/jobs/schedule" -H 'content-type: application/json' \
    -d "{\"cron\":\"0 7 * * MON\",\"name\":\"bench-$i\"}" || { echo "bench: creating schedule bench-$i failed" >&2; exit 1; }
done
reset_counts "$api_proxy_control"
page=$(curl -sf "http://$api/jobs/schedules?limit=50") || { echo "bench: GET /jobs/schedules failed" >&2; exit 1; }
first=$(counts "$api_proxy_control")
next_page=""
if [[ $(jq -r .nextCursor <<<"$page") != null ]]; then
  reset_counts "$api_proxy_control"
  curl -sf -o /dev/null "http://$api/jobs/schedules?limit=50&cursor=$(jq -r .nextCursor <<<"$page")"
  second=$(counts "$api_proxy_control")
  next_page="; the next page $(op_total "$second") ($(op_counts "$second"))"
fi
echo "schedules: with $bench_schedules schedules, a page of $(jq '.schedules | length' <<<"$page") $(op_total "$first") requests ($(op_counts "$first"))$next_page"
reset_counts "$api_proxy_control"
curl -sf -o /dev/null -X POST "http://$api/jobs/schedule" -H 'content-type: application/json' -d '{"cron":"0 7 * * MON","name":"bench-last"}'
created=$(counts "$api_proxy_control")
echo "schedules: creating one beside $bench_schedules (the limit counted from Scheduler's pages of 100) $(op_total "$created") requests ($(op_counts "$created"))"

# 5. --once: one process per job, as a KEDA ScaledJob pod runs it.
kill -TERM "$worker_pid"
wait "$worker_pid" 2>/dev/null || true
# The emulator still holds the stopped worker's open long polls until their wait ends; a
# message sent meanwhile would go to one of them and stay hidden for the visibility timeout.
sleep "$((${JOBS_RECEIVE_WAIT_SECS:-20} + 1))"

# 5a. Loop mode with a backlog: the burst waits in the queue when a worker process starts
#     (as after a scale-up, or when jobs come faster than the workers take them). Its
#     polls wait 1 s, so that its last one is over soon after it stops.
for control in "${controls[@]}"; do reset_counts "$control"; done
base=$(succeeded)
accepted_backlog=$(submit_burst "$burst" '{"task":"sleep","input":{"ms":0}}')
start=$(date +%s%N)
AWS_ENDPOINT_URL=$worker_proxy_url JOBS_RECEIVE_WAIT_SECS=1 "$BIN/data-processor" --concurrency "$concurrency" >>"$LOGS/worker.log" 2>&1 &
backlog_pid=$!
pids+=("$backlog_pid")
wait_succeeded "$base" "$accepted_backlog"
drain_ms=$((($(date +%s%N) - start) / 1000000))
sleep 1 # the last batch delete
kill -TERM "$backlog_pid"
wait "$backlog_pid" 2>/dev/null || true
backlog_counts=$(counts "$worker_proxy_control")
backlog_total=$(jq '[.requests[]] | add' <<<"$backlog_counts")
echo "loop mode with a backlog of $accepted_backlog jobs (worker concurrency $concurrency), drained in $drain_ms ms ($(ratio "$accepted_backlog * 1000 / $drain_ms") jobs/s):"
echo "  worker side: $(per_job "$backlog_counts" "$accepted_backlog")"
echo "  end to end:  $(ratio "$api_total / $accepted + $backlog_total / $accepted_backlog") requests per successful job (API and worker)"
aggregator_line "$accepted_backlog"
sleep 2

# 5b. --once.
for control in "${controls[@]}"; do reset_counts "$control"; done
base=$(succeeded)
processes=0
for _ in $(seq 1 "$once_jobs"); do
  curl -s -o /dev/null -X POST "http://$api/jobs" -H 'content-type: application/json' -d '{"task":"sleep","input":{"ms":0}}'
  AWS_ENDPOINT_URL=$worker_proxy_url "$BIN/data-processor" --once >>"$LOGS/worker-once.log" 2>&1
  processes=$((processes + 1))
done
# A process whose receive came back empty leaves a job: more processes until none is left.
while (($(succeeded) - base < once_jobs && processes < 2 * once_jobs)); do
  AWS_ENDPOINT_URL=$worker_proxy_url "$BIN/data-processor" --once >>"$LOGS/worker-once.log" 2>&1
  processes=$((processes + 1))
done
once=$(counts "$worker_proxy_control")
echo "--once, $once_jobs jobs, $processes processes (one message each at most, as KEDA's pods):"
echo "  worker side: $(per_job "$once" "$once_jobs")"
echo "  end to end:  $(ratio "$api_total / $accepted + $(jq '[.requests[]] | add' <<<"$once") / $once_jobs") requests per successful job (API and worker; the aggregator's cost does not depend on the worker's mode)"

# 5c. After a stream-mode run, the write units of the same jobs counting inline: the
#     aggregator stops, the API and a worker start again on a table and queue of their own
#     that count inline (a table's counting mode is fixed where it is created, and a
#     process counting otherwise refuses to start).
if [[ -n $aggregator_pid ]]; then
  kill -TERM "$aggregator_pid" "$api_pid"
  wait "$aggregator_pid" "$api_pid" 2>/dev/null || true
  controls=("$api_proxy_control" "$worker_proxy_control")
  aggregator_pid=""
  while IFS='=' read -r name value; do export "$name=$value"; done < <("$BIN/provision" --counting inline bench-inline)
  AWS_ENDPOINT_URL=$api_proxy_url JOBS_API_ADDR=$api JOBS_API_THROTTLE=off "$BIN/local-api" >>"$LOGS/api.log" 2>&1 &
  api_pid=$!
  pids+=("$api_pid")
  AWS_ENDPOINT_URL=$worker_proxy_url JOBS_RECEIVE_WAIT_SECS=1 "$BIN/data-processor" --concurrency "$concurrency" >>"$LOGS/worker.log" 2>&1 &
  worker_pid=$!
  pids+=("$worker_pid")
  wait_for_http "http://$api/openapi.json" 60 || { tail -20 "$LOGS/api.log"; exit 1; }
  write_units inline
  kill -TERM "$worker_pid"
  wait "$worker_pid" 2>/dev/null || true
fi

# 6. Lambda cold start: a release build of stats-api, started through a local stand-in for
#    the Lambda Runtime API, answering its first GET /jobs/stats from the same emulator.
#    Built now, after the figures above (a first release build takes minutes).
cargo build --quiet --release -p lambdas --bin stats-api
python3 scripts/lambda-cold-start.py target/release/stats-api 10
# The zips the CDK app deploys: arm64 release builds by cargo-lambda (scripts/lambdas.sh;
# a first build takes minutes, a later one only relinks what changed).
if ! bash scripts/lambdas.sh >"$LOGS/lambdas.log" 2>&1; then
  tail -20 "$LOGS/lambdas.log"
  exit 1
fi
for zip in target/lambda/*/bootstrap.zip; do
  echo "Lambda zip $(basename "$(dirname "$zip")") (arm64): $(($(stat -c %s "$zip") / 1024)) KiB"
done

# 7. The emulator's own transaction cost by table size, moto's rollback against ours.
#    In process with moto's mock: not against the running emulator.
env -u AWS_ENDPOINT_URL "$EMULATOR_VENV/bin/python" localstack/emulator_bench.py
