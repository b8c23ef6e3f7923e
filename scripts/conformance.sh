#!/usr/bin/env bash
# API conformance: starts `localstack/run.sh` (what `make run` runs) on free ports, checks
# the OpenAPI document it serves with openapi-spec-validator, then lets schemathesis test
# every operation in that document against it: every check, every phase (examples,
# coverage, fuzzing, stateful along the document's links). Any finding, error or warning
# fails the run. Stops everything it started on exit.
#
# The run is driven by the document, so a route added later is covered once it is in the
# document. Settings (environment):
#   CONFORMANCE_SEED          the generator's seed (default: fixed, so CI is reproducible);
#                             `random` explores new inputs
#   CONFORMANCE_MAX_EXAMPLES  test cases per operation and phase (default in the config file)
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

CONFORMANCE_VENV="$ROOT/.venv/conformance"
ensure_venv "$CONFORMANCE_VENV" schemathesis "$ROOT/scripts/conformance-requirements.txt"

out="$ROOT/.local/test-logs/conformance"
rm -rf "$out"
mkdir -p "$out"
log="$out/run.log"
fail() {
  echo "conformance: $*" >&2
  echo "--- run log (tail):" >&2
  tail -n 40 "$log" >&2
  exit 1
}

# What run.sh would build and install first, so its start below is quick to wait for.
ensure_emulator_venv
cargo build --quiet --bins

api="127.0.0.1:$(free_port)"
# Unthrottled: schemathesis sends hundreds of requests a second, and what is checked is the
# API's answers, not the stage's rates (the e2e check and lambdas' throttle tests check those).
env -u AWS_ENDPOINT_URL JOBS_API_ADDR="$api" JOBS_API_THROTTLE=off EMULATOR_PORT="$(free_port)" bash localstack/run.sh >"$log" 2>&1 &
run_pid=$!
# SIGTERM, not SIGINT: a background job starts with SIGINT ignored when the caller ignored
# it (nohup, a background CI step), and an ignored signal cannot be trapped again.
trap 'kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true' EXIT
wait_for_http "http://$api/openapi.json" 120 || fail "the API did not come up"

echo "conformance: OpenAPI document (openapi-spec-validator)"
curl -sSf "http://$api/openapi.json" -o "$out/openapi.json"
"$CONFORMANCE_VENV/bin/openapi-spec-validator" "$out/openapi.json"

# A job to re-run (see scripts/schemathesis.toml): a long sleep, cancelled, CANCELLED at once
# if still queued, or within a heartbeat if its worker already runs it.
job=$(curl -sSf -X POST "http://$api/jobs" --json '{"task":"sleep","input":{"ms":600000}}' | jq -r .jobId)
curl -sSf -o /dev/null -X POST "http://$api/jobs/$job/cancel" || fail "cancelling job $job failed"
for _ in $(seq 1 120); do
  status=$(curl -sSf "http://$api/jobs/$job" | jq -r .status)
  [[ $status == CANCELLED ]] && break
  sleep 0.5
done
[[ $status == CANCELLED ]] || fail "job $job to re-run is $status, not CANCELLED, 60 s after its cancel"
export CONFORMANCE_RERUNNABLE_JOB=$job

# A cursor of GET /jobs/schedules (see scripts/schemathesis.toml): Scheduler's page tokens
# are opaque, so no schema can tell a cursor this API gave out from any other string; two
# schedules, a page of one, and its cursor.
for name in conformance-a conformance-b; do
  curl -sSf -o /dev/null -X POST "http://$api/jobs/schedule" --json "{\"cron\":\"0 7 * * MON\",\"name\":\"$name\"}" ||
    fail "creating schedule $name failed"
done
cursor=$(curl -sSf "http://$api/jobs/schedules?limit=1" | jq -er .nextCursor) || fail "a page of one schedule had no cursor"
export CONFORMANCE_SCHEDULES_CURSOR=$cursor

seed=${CONFORMANCE_SEED:-20261201}
seed_args=(--seed "$seed")
if [[ $seed == random ]]; then
  seed_args=()
fi
max_examples=()
if [[ -n ${CONFORMANCE_MAX_EXAMPLES:-} ]]; then
  max_examples=(--max-examples "$CONFORMANCE_MAX_EXAMPLES")
fi

echo "conformance: schemathesis against http://$api (all checks, all phases)"
start=$SECONDS
status=0
# The timeout only guards against a hang; a normal run takes a fraction of it.
# The formats JSON Schema cannot spell (a schedule's cron) come from scripts/schemathesis_hooks.py.
SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_hooks.py" timeout 900 "$CONFORMANCE_VENV/bin/schemathesis" --no-color --config-file "$ROOT/scripts/schemathesis.toml" \
  run "http://$api/openapi.json" --checks all --phases examples,coverage,fuzzing,stateful \
  "${seed_args[@]}" "${max_examples[@]}" \
  --report junit --report-dir "$out" | tee "$out/schemathesis.log" || status=$?
echo "conformance: schemathesis took $((SECONDS - start)) s (exit $status; report in ${out#"$ROOT"/})"
if ((status != 0)); then
  fail "schemathesis reported findings or errors (see above)"
fi
# The stateful phase must have followed links, at least as many as the document declares
# (create a job, then read it; create a schedule, then read and delete it), not silently
# run nothing. Schemathesis also infers links from Location headers (a job's URL also
# leads to its cancel and re-run); some of those need states a random scenario may not
# reach (a re-run needs a FAILED or CANCELLED job), so they count but are not required.
documented=$(jq '[.. | objects | select(has("links")) | .links | keys[]] | length' "$out/openapi.json")
links=$(grep -Eo 'API Links: +[0-9]+ covered / [0-9]+ selected' "$out/schemathesis.log" || true)
read -r covered selected < <(sed -E 's/[^0-9]+([0-9]+)[^0-9]+([0-9]+).*/\1 \2/' <<<"$links")
if [[ -z $links || $covered == 0 || $covered -lt $documented ]]; then
  fail "the stateful phase followed fewer API links than the document declares ($documented; ${links:-no link summary})"
fi
echo "conformance: passed; the stateful phase followed $covered of $selected API links ($documented declared in the document)"
