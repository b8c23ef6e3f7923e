# shellcheck shell=bash
# shellcheck disable=SC2034  # EMULATOR_PID, DOCKERD_PID, TOOLS_VENV are for the sourcing script
# Helpers shared by the local scripts (run, test): the emulator's Python environment,
# starting and stopping the emulator, waiting for HTTP endpoints. Source it; do not run it.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EMULATOR_VENV="$ROOT/.venv/emulator"

# ensure_venv DIR PROBE REQUIREMENTS [WATCHED...]: creates the venv DIR and installs the
# pinned REQUIREMENTS into it, again whenever REQUIREMENTS or a WATCHED file (one it
# includes) changes or DIR/bin/PROBE is missing.
ensure_venv() {
  local dir=$1 probe=$2 reqs=$3 stamp="$1/.requirements.sha256" want
  want=$(cat "${@:3}" | sha256sum | cut -d' ' -f1)
  if [[ ! -x "$dir/bin/$probe" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "==> installing $(basename "$reqs") into ${dir#"$ROOT"/}" >&2
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
    echo "$want" >"$stamp"
  fi
}

# The local AWS emulator: the pinned moto server.
ensure_emulator_venv() {
  ensure_venv "$EMULATOR_VENV" moto_server "$ROOT/localstack/requirements.txt"
}

# port_in_use PORT: whether something listens on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: prints a free local TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_http URL SECONDS: waits until URL answers (any HTTP status).
wait_for_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$url"; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.2
  done
}

# start_emulator PORT LOGFILE: starts moto on 127.0.0.1:PORT in the background, sets
# EMULATOR_PID, and points this shell's AWS settings at it with test credentials.
start_emulator() {
  local port=$1 log=$2
  if port_in_use "$port"; then
    echo "error: port $port is in use; stop what runs there or set EMULATOR_PORT" >&2
    return 1
  fi
  "$EMULATOR_VENV/bin/python" "$ROOT/localstack/emulator.py" 127.0.0.1 "$port" >"$log" 2>&1 &
  EMULATOR_PID=$!
  if ! wait_for_http "http://127.0.0.1:$port/moto-api/" 60; then
    echo "error: the emulator did not start; its log ($log) ends with:" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# stop_pids PID...: terminates the given processes and waits for them.
stop_pids() {
  local pid
  for pid in "$@"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    wait "$pid" 2>/dev/null || true
  done
}

TOOLS_VENV="$ROOT/.venv/tools"

# Creates .venv/tools with the pinned validators and linters, again whenever the pins change.
ensure_tools_venv() {
  ensure_venv "$TOOLS_VENV" shellcheck "$ROOT/scripts/tools-requirements.txt" "$ROOT/cdk8s/requirements.txt"
}

# ensure_docker LOGFILE: makes sure a Docker engine answers, starting dockerd (as root) when
# none runs. Sets DOCKERD_PID when it started one, so the caller can stop it.
ensure_docker() {
  DOCKERD_PID=""
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null || [[ $(id -u) != 0 ]]; then
    echo "no Docker engine answers, and dockerd cannot be started here (install docker.io, run as root)" >&2
    return 1
  fi
  dockerd >"$1" 2>&1 &
  DOCKERD_PID=$!
  local deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "dockerd did not start; see $1" >&2
      return 1
    fi
    sleep 0.5
  done
}
