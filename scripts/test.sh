#!/usr/bin/env bash
# Runs every test: Rust unit, HTTP and system tests (against the local AWS emulator,
# started here and stopped on exit), a short chaos run (scripts/chaos.sh), the crates'
# dependency boundaries, the end-to-end check of `make run`, the API's conformance to its OpenAPI document (schemathesis
# against `make run`), the cdk8s chart's tests with the offline validators, the CDK
# app's tests, and the linters.
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
skipped=()
LOGS="$ROOT/.local/test-logs"
mkdir -p "$LOGS"

step() { printf '\n==> %s\n' "$*"; }

step "Rust formatting and lints"
cargo fmt --all --check
cargo clippy --quiet --workspace --all-targets -- -D warnings

step "dependency boundaries: what each deployed binary links"
# The API knows tasks only by their contract (job-core); the worker's task code and the
# local tools must never be linked into a Lambda, nor the API or the tools into the worker.
forbid_dependency() {
  local crate=$1 dependency=$2
  if cargo tree --quiet --locked -p "$crate" -e normal --prefix none --format '{p}' |
    grep -q "^$dependency v"; then
    echo "error: $crate depends on $dependency (cargo tree -p $crate -i $dependency shows the path)" >&2
    exit 1
  fi
}
forbid_dependency lambdas data-processor
forbid_dependency lambdas local-dev
forbid_dependency data-processor lambdas
forbid_dependency data-processor local-dev
echo "lambdas links neither data-processor nor local-dev; data-processor links neither lambdas nor local-dev"

step "starting the local AWS emulator"
ensure_emulator_venv
echo "emulator: item-level transaction rollback answers and leaves tables as moto's own"
"$EMULATOR_VENV/bin/python" localstack/emulator_test.py
start_emulator "$(free_port)" "$LOGS/emulator.log"
pids+=("$EMULATOR_PID")
echo "emulator on $AWS_ENDPOINT_URL"

step "Rust tests (unit, HTTP, system against the emulator)"
cargo build --quiet --workspace --bins
# With the emulator suites, which plain `cargo test` lists as ignored (they need the emulator).
cargo test --workspace -- --include-ignored

step "chaos, short: jobs under SIGKILLs and refused, black-holed and cut network (make chaos runs the long one)"
CHAOS_JOBS=120 CHAOS_KILLS=8 CHAOS_PHASE_SECS=5 CHAOS_BOUND_SECS=180 bash scripts/chaos.sh

step "end to end: make run, then the README's curl flow"
bash scripts/e2e.sh

step "API conformance: OpenAPI document validated, schemathesis against make run"
bash scripts/conformance.sh

step "status page in headless Chromium (Playwright) against make run"
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [[ -n ${CHROMIUM:-} ]]; then
  bash scripts/browser-test.sh
elif [[ ${CI:-} == true ]]; then
  echo "error: the browser test needs Chromium (.ci/run installs it; apt-get install chromium)" >&2
  exit 1
else
  skipped+=("status page browser test (no Chromium; apt-get install chromium)")
  echo "SKIPPED: the browser test did not run (no Chromium)"
fi

ensure_tools_venv

step "cdk8s chart: synth, schema checks against the upstream CRDs, kubernetes-validate, checkov"
(
  cd cdk8s
  npm ci --no-audit --no-fund --loglevel=error
  CDK8S_CHECK_UPGRADE=false npx cdk8s synth >/dev/null
  PATH="$TOOLS_VENV/bin:$PATH" npm test
)

step "infra-cdk: cdk synth with cdk-nag, template assertions, cfn-lint, checkov, one arm64 Lambda build"
(
  cd infra-cdk
  # After the cdk8s step: the app installs the chart package (file:../cdk8s) as a copy.
  npm ci --no-audit --no-fund --loglevel=error
  PATH="$TOOLS_VENV/bin:$PATH" npm test
)

step "workflows: zizmor"
"$TOOLS_VENV/bin/zizmor" --offline .github/workflows

step "container image: hadolint, build, run as Kubernetes would"
"$TOOLS_VENV/bin/hadolint" data-processor/Dockerfile data-processor/prebuilt.Dockerfile localstack/provision.Dockerfile
python3 scripts/image-layout-test.py
if ensure_docker "$LOGS/dockerd.log"; then
  [[ -n $DOCKERD_PID ]] && pids+=("$DOCKERD_PID")
  bash scripts/container-test.sh
elif [[ ${CI:-} == true ]]; then
  echo "error: the container test needs a Docker engine" >&2
  exit 1
else
  skipped+=("container image test (no Docker engine)")
  echo "SKIPPED: the container image test did not run"
fi

step "LocalStack compose file; the kind + KEDA script with stub tools"
if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; then
  bash scripts/compose-test.sh
elif [[ ${CI:-} == true ]]; then
  echo "error: validating localstack/compose.yaml needs Docker Compose (docker-compose)" >&2
  exit 1
else
  skipped+=("compose file validation (no Docker Compose)")
  echo "SKIPPED: localstack/compose.yaml was not validated (no Docker Compose)"
fi
bash scripts/kind-test.sh

step "shell scripts (ShellCheck)"
"$TOOLS_VENV/bin/shellcheck" localstack/*.sh scripts/*.sh .ci/run cdk8s/scripts/*.sh

if ((${#skipped[@]})); then
  printf '\nall tests that ran passed; DID NOT RUN: %s\n' "${skipped[@]}"
else
  printf '\nall tests passed\n'
fi
