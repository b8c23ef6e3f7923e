#!/usr/bin/env bash
# The status page in a real headless browser: starts `localstack/run.sh` (what `make run`
# runs) on free ports, then drives Debian's Chromium with Playwright (pinned, from
# scripts/browser-requirements.txt; pointed at the system browser, never a downloaded one)
# through scripts/browser-test.py. Leaves a screenshot in .local/test-logs/browser/.
# Stops everything it started on exit.
#   CHROMIUM   the browser executable (default: chromium on PATH)
# Arguments go to browser-test.py, e.g. --screenshot docs/status-page.png.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z $chromium ]]; then
  echo "error: the browser test needs Chromium (apt-get install chromium; .ci/run installs it)" >&2
  exit 1
fi

BROWSER_VENV="$ROOT/.venv/browser"
ensure_venv "$BROWSER_VENV" playwright "$ROOT/scripts/browser-requirements.txt"

out="$ROOT/.local/test-logs/browser"
rm -rf "$out"
mkdir -p "$out"
log="$out/run.log"

ensure_emulator_venv
cargo build --quiet --bins

api="127.0.0.1:$(free_port)"
# A short visibility timeout (heartbeat every second) and short retry delays keep it quick.
env -u AWS_ENDPOINT_URL JOBS_API_ADDR="$api" EMULATOR_PORT="$(free_port)" \
  JOBS_VISIBILITY_TIMEOUT_SECS=3 JOBS_RETRY_BASE_DELAY_MS=200 JOBS_RETRY_MAX_DELAY_MS=400 \
  bash localstack/run.sh >"$log" 2>&1 &
run_pid=$!
# SIGTERM, not SIGINT: a background job starts with SIGINT ignored when the caller ignored
# it (nohup, a background CI step), and an ignored signal cannot be trapped again.
trap 'kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true' EXIT
if ! wait_for_http "http://$api/jobs/stats" 120; then
  echo "browser test: the API did not come up; run log (tail):" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
"$BROWSER_VENV/bin/python" scripts/browser-test.py --base "http://$api/" --chromium "$chromium" --out "$out" "$@"
