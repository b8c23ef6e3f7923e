#!/usr/bin/env bash
# Builds the Lambda zips for arm64 (provided.al2023) with cargo-lambda from the pinned
# tools venv: target/lambda/<binary>/bootstrap.zip, which the CDK app deploys.
# Usage: scripts/lambdas.sh [BINARY...]   (default: every Lambda binary)
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

binaries=("$@")
if ((${#binaries[@]} == 0)); then
  binaries=(jobs-api stats-api schedules-api reconciler counter-aggregator)
fi
args=()
for binary in "${binaries[@]}"; do
  args+=(--bin "$binary")
done

ensure_tools_venv
PATH="$TOOLS_VENV/bin:$PATH" cargo lambda build --release --arm64 --output-format zip "${args[@]}"
for binary in "${binaries[@]}"; do
  ls -l "target/lambda/$binary/bootstrap.zip"
done
