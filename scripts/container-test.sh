#!/usr/bin/env bash
# Runs the data-processor image the way Kubernetes does: read-only root, no capabilities,
# numeric non-root user, `--once`; against the emulator the caller started
# (AWS_ENDPOINT_URL), with a job submitted through the local API. Checks the job succeeds
# and the image stays small and non-root.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"
: "${AWS_ENDPOINT_URL:?start the emulator first (make test does)}"

image=$(bash scripts/image.sh data-processor:test)
user=$(docker image inspect -f '{{.Config.User}}' "$image")
size_mb=$(($(docker image inspect -f '{{.Size}}' "$image") / 1000000))
[[ $user == 65532:65532 ]] || { echo "container: image runs as '$user', expected 65532:65532" >&2; exit 1; }
((size_mb <= 30)) || { echo "container: image is $size_mb MB, expected at most 30" >&2; exit 1; }
echo "container: $image runs as $user, $size_mb MB"

provisioned=$(target/debug/provision "container$RANDOM")
while IFS='=' read -r name value; do
  export "$name=$value"
done <<<"$provisioned"
JOBS_API_ADDR="127.0.0.1:$(free_port)"
export JOBS_API_ADDR
target/debug/local-api 2>"$ROOT/.local/test-logs/container-api.log" &
api_pid=$!
trap 'stop_pids "$api_pid"' EXIT
wait_for_http "http://$JOBS_API_ADDR/openapi.json" 30

job_id=$(curl -sS -X POST "http://$JOBS_API_ADDR/jobs" | jq -er .jobId)
docker run --rm --network host --read-only --cap-drop ALL --security-opt no-new-privileges \
  -e JOBS_QUEUE_URL -e JOBS_TABLE_NAME -e AWS_ENDPOINT_URL -e AWS_REGION \
  -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e JOBS_RECEIVE_WAIT_SECS=5 -e RUST_LOG=warn \
  "$image" --once
status=$(curl -sS "http://$JOBS_API_ADDR/jobs/$job_id" | jq -r .status)
[[ $status == SUCCEEDED ]] || { echo "container: job $job_id is $status after the container ran" >&2; exit 1; }
echo "container: job $job_id SUCCEEDED in the container; exit 0"
