#!/usr/bin/env bash
# make chaos: builds the workspace, starts the local AWS emulator, and runs
# scripts/chaos.py against it (jobs of every task, SIGKILLed workers, refused,
# black-holed and cut network phases through the fault proxy, then the checks).
# Settings: CHAOS_JOBS, CHAOS_KILLS, CHAOS_WORKERS, CHAOS_SEED, CHAOS_PHASE_SECS,
# CHAOS_BOUND_SECS, CHAOS_COUNTERS (see scripts/chaos.py). Stops everything it started on exit.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

pids=()
# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
  trap - EXIT
  if ((${#pids[@]})); then
    stop_pids "${pids[@]}"
  fi
}
trap cleanup EXIT

cargo build --quiet --bins
ensure_emulator_venv
mkdir -p .local/chaos
start_emulator "$(free_port)" .local/chaos-emulator.log
pids+=("$EMULATOR_PID")
CHAOS_EMULATOR_URL=$AWS_ENDPOINT_URL "$EMULATOR_VENV/bin/python" scripts/chaos.py
