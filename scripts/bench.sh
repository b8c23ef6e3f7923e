#!/usr/bin/env bash
# Prints figures for the local system (not a test; numbers depend on the machine):
#   - AWS requests one successful job costs end to end (API + worker), counted from the
#     emulator's request log;
#   - submit→SUCCEEDED latency over sequential jobs (p50, p95, max);
#   - throughput of a burst of jobs with the default worker concurrency;
#   - a Lambda binary's cold start (release build, local Runtime API stand-in) and zip sizes;
#   - the emulator's TransactWriteItems cost by table size (localstack/emulator_bench.py).
# Usage: scripts/bench.sh [SEQUENTIAL_JOBS] [BURST_JOBS]
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

sequential=${1:-50}
burst=${2:-200}
api="127.0.0.1:$(free_port)"
log="$ROOT/.local/bench-run.log"
emulator_log="$ROOT/.local/logs/emulator.log"
mkdir -p "$ROOT/.local"
set -m
# The Lambda binary measured in 4, built before the system starts.
cargo build --quiet --release -p lambdas --bin stats-api
emulator_port=$(free_port)
env -u AWS_ENDPOINT_URL JOBS_API_ADDR="$api" EMULATOR_PORT="$emulator_port" bash localstack/run.sh >"$log" 2>&1 &
run_pid=$!
trap 'kill -INT "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true' EXIT
wait_for_http "http://$api/openapi.json" 180 || { cat "$log"; exit 1; }
sleep 1

requests() { grep -c '"POST / HTTP' "$emulator_log" || true; }

# 1. Requests per job: count emulator requests around one job, with nothing else polling.
#    Idle workers' long polls return only after 20 s, so they do not enter the window
#    except the one poll that receives this job's message.
curl -s -X POST "http://$api/jobs" >/dev/null # warm-up
sleep 2
before=$(requests)
id=$(curl -s -X POST "http://$api/jobs" | jq -r .jobId)
sleep 2
after=$(requests)
status=$(curl -s "http://$api/jobs/$id" | jq -r .status)
echo "requests per successful job (API + worker): $((after - before)) [job $status]"

# 2. Latency, one job at a time, polling GET /jobs/{id} every 10 ms.
latencies=()
for _ in $(seq 1 "$sequential"); do
  start=$(date +%s%N)
  id=$(curl -s -X POST "http://$api/jobs" -H 'content-type: application/json' -d '{"task":"sleep","input":{"ms":0}}' | jq -r .jobId)
  until [[ $(curl -s "http://$api/jobs/$id" | jq -r .status) == SUCCEEDED ]]; do sleep 0.01; done
  latencies+=($((($(date +%s%N) - start) / 1000000)))
done
sorted=$(printf '%s\n' "${latencies[@]}" | sort -n)
pick() { sed -n "$(((${#latencies[@]} * $1 + 99) / 100))p" <<<"$sorted"; }
echo "submit→SUCCEEDED over $sequential sequential jobs: p50 $(pick 50) ms, p95 $(pick 95) ms, max $(tail -1 <<<"$sorted") ms"

# 3. Burst throughput: submit with 16 clients in parallel, wait for every accepted job.
base=$(curl -s "http://$api/jobs/stats" | jq .succeeded)
start=$(date +%s%N)
accepted=$(seq 1 "$burst" | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "http://$api/jobs" \
  -H 'content-type: application/json' -d '{"task":"sleep","input":{"ms":0}}' | grep -c '^202$' || true)
submitted_ms=$((($(date +%s%N) - start) / 1000000))
deadline=$((SECONDS + 120))
until (($(curl -s "http://$api/jobs/stats" | jq .succeeded) - base >= accepted)); do
  ((SECONDS < deadline)) || { echo "burst: not all accepted jobs succeeded within 120 s" >&2; exit 1; }
  sleep 0.1
done
total_ms=$((($(date +%s%N) - start) / 1000000))
echo "burst of $burst jobs ($accepted accepted): submitted in $submitted_ms ms, all SUCCEEDED after $total_ms ms" \
  "($((accepted * 1000 / total_ms)) jobs/s, worker concurrency ${WORKER_CONCURRENCY:-4})"
stats=$(curl -s "http://$api/jobs/stats")
echo "stats: $(jq -c '{submitted,succeeded,failed,retries,inFlight}' <<<"$stats")"

# 4. Lambda cold start: a release build of stats-api, started through a local stand-in for
#    the Lambda Runtime API, answering its first GET /jobs/stats from the same emulator.
(
  export AWS_ENDPOINT_URL="http://127.0.0.1:$emulator_port" AWS_REGION=${AWS_REGION:-us-east-1}
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
  while IFS='=' read -r name value; do export "$name=$value"; done < <(target/debug/provision local)
  python3 scripts/lambda-cold-start.py target/release/stats-api 10
)
for zip in target/lambda/*/bootstrap.zip; do
  [[ -e $zip ]] || { echo "Lambda zips: not built (make lambdas builds them)"; break; }
  echo "Lambda zip $(basename "$(dirname "$zip")"): $(($(stat -c %s "$zip") / 1024)) KiB"
done

# 5. The emulator's own transaction cost by table size, moto's rollback against ours.
"$EMULATOR_VENV/bin/python" localstack/emulator_bench.py
