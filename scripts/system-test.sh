#!/usr/bin/env bash
# The Rust tests with the emulator suites (`make system-test`): starts the local AWS
# emulator on a free port, runs every Rust test including those marked as needing it
# (`#[ignore = "needs the local AWS emulator ..."]`), and stops the emulator on exit.
# Arguments go to `cargo test` before `--`, e.g. `scripts/system-test.sh -p local-dev`.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

pids=()
# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
  trap - EXIT
  if ((${#pids[@]})); then stop_pids "${pids[@]}"; fi
}
trap cleanup EXIT
LOGS="$ROOT/.local/test-logs"
mkdir -p "$LOGS"

ensure_emulator_venv
start_emulator "$(free_port)" "$LOGS/emulator.log"
pids+=("$EMULATOR_PID")
echo "emulator on $AWS_ENDPOINT_URL"
cargo build --quiet --workspace --bins
cargo test --workspace "$@" -- --include-ignored
