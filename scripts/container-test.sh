#!/usr/bin/env bash
# Runs the data-processor image the way KEDA and Kubernetes do: one container per queued
# job, `--once`, read-only root, no capabilities, the numeric non-root uid, the chart's
# limits and /tmp scratch; against the emulator the caller started (AWS_ENDPOINT_URL),
# with jobs submitted through the local API. For a mix (process-data, flaky failing once,
# fail) it checks that every container exits 0, that each job record and the stats come
# out exact, and that the queue ends empty. Also checks the image's layout against the
# Dockerfile (scripts/image-layout-test.py) and prints its size.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"
: "${AWS_ENDPOINT_URL:?start the emulator first (make test does)}"
LOGS="$ROOT/.local/test-logs"
mkdir -p "$LOGS"
# The image is the static worker binary and the CA bundle: 16.0 MB (15.8 + 0.2) built
# offline for x86_64; the bound catches a debug build or a base image, not kilobytes.
MAX_SIZE_MB=17
MAX_CONTAINERS=8
DEADLINE_SECS=180

fail() {
  echo "container: $*" >&2
  exit 1
}

# This machine's way (the legacy builder cannot build data-processor/Dockerfile); the
# layout test below ties the result to that Dockerfile's runtime stage.
image=$(IMAGE_ARCH=host IMAGE_BUILD=prebuilt bash scripts/image.sh data-processor:test)
python3 scripts/image-layout-test.py --image "$image"
size=$(docker image inspect -f '{{.Size}}' "$image")
user=$(docker image inspect -f '{{.Config.User}}' "$image")
((size <= MAX_SIZE_MB * 1000000)) || fail "image is $size bytes, expected at most $MAX_SIZE_MB MB"
echo "container: $image runs as $user, $(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1000000 }') (limit $MAX_SIZE_MB MB)"

provisioned=$(target/debug/provision --counting inline "container$RANDOM")
while IFS='=' read -r name value; do
  export "$name=$value"
done <<<"$provisioned"
JOBS_API_ADDR="127.0.0.1:$(free_port)"
export JOBS_API_ADDR
target/debug/local-api 2>"$LOGS/container-api.log" &
api_pid=$!
trap 'stop_pids "$api_pid"' EXIT
wait_for_http "http://$JOBS_API_ADDR/openapi.json" 30 || fail "the local API did not start"
api="http://$JOBS_API_ADDR"

# submit STATUS ATTEMPTS [BODY]: queues a job (no body: the default task) and records the
# final status and attempt count it must reach.
declare -A expect_status expect_attempts
submit() {
  local reply id
  reply=$(curl -sS -X POST "$api/jobs" ${3:+-H 'content-type: application/json' -d "$3"})
  id=$(jq -er .jobId <<<"$reply") || fail "POST /jobs ${3:-(no body)} replied $reply"
  expect_status[$id]=$1
  expect_attempts[$id]=$2
}
submit SUCCEEDED 1
submit SUCCEEDED 2 '{"task":"flaky","input":{"failAttempts":1}}'
submit FAILED 3 '{"task":"fail"}'
jobs_count=${#expect_status[@]}

# Visible plus in-flight messages in the job queue.
queue_depth() {
  "$EMULATOR_VENV/bin/python" - <<'PY'
import os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
attrs = sqs.get_queue_attributes(QueueUrl=os.environ["JOBS_QUEUE_URL"], AttributeNames=names)["Attributes"]
print(sum(int(attrs[n]) for n in names))
PY
}

# run_container N: one pod's worth of worker, as the chart's pod spec runs it.
run_container() {
  docker run --rm --name "data-processor-test-$$-$1" --network host \
    --read-only --tmpfs /tmp:size=64m --cap-drop ALL --security-opt no-new-privileges \
    --user 65532:65532 --memory 512m --cpus 1 \
    -e JOBS_QUEUE_URL -e JOBS_TABLE_NAME -e AWS_ENDPOINT_URL -e AWS_REGION \
    -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
    -e JOBS_RECEIVE_WAIT_SECS=2 -e JOBS_RETRY_BASE_DELAY_MS=100 -e JOBS_RETRY_MAX_DELAY_MS=200 \
    -e RUST_LOG=warn \
    "$image" --once >>"$LOGS/container-$1.log" 2>&1
}

# KEDA starts one Job per visible message, all at once; then more while messages remain.
started=0
deadline=$((SECONDS + DEADLINE_SECS))
while true; do
  depth=$(queue_depth)
  if ((depth == 0)); then
    break
  fi
  ((started < MAX_CONTAINERS && SECONDS < deadline)) ||
    fail "queue still holds $depth message(s) after $started containers and $((SECONDS - deadline + DEADLINE_SECS)) s"
  wave=()
  for _ in $(seq 1 "$depth"); do
    started=$((started + 1))
    run_container "$started" &
    wave+=("$!:$started")
  done
  for entry in "${wave[@]}"; do
    if ! wait "${entry%%:*}"; then
      fail "container ${entry#*:} exited non-zero; its log: $(cat "$LOGS/container-${entry#*:}.log")"
    fi
  done
done
((started == jobs_count)) || echo "container: note: $started containers ran for $jobs_count jobs"

for id in "${!expect_status[@]}"; do
  job=$(curl -sS "$api/jobs/$id")
  got="$(jq -r .status <<<"$job") $(jq -r .attempts <<<"$job")"
  want="${expect_status[$id]} ${expect_attempts[$id]}"
  [[ $got == "$want" ]] || fail "job $id ($(jq -r .task <<<"$job")) is '$got', expected '$want': $job"
done
stats=$(curl -sS "$api/jobs/stats" | jq -c '{submitted,succeeded,failed,retries,inFlight}')
want_stats='{"submitted":3,"succeeded":2,"failed":1,"retries":3,"inFlight":0}'
[[ $stats == "$want_stats" ]] || fail "stats are $stats, expected $want_stats"
echo "container: $jobs_count jobs in $started containers, each exited 0; records exact; stats $stats; queue empty"
