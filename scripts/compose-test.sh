#!/usr/bin/env bash
# Validates localstack/compose.yaml with Docker Compose itself (`docker compose config`, or
# the standalone `docker-compose`), then checks what the project relies on in the resolved
# file: a pinned LocalStack image, port 4566 on loopback, and the provisioning hook that
# runs the project's `provision` once LocalStack is healthy.
set -euo pipefail
# shellcheck source=localstack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../localstack/lib.sh"
cd "$ROOT"

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  echo "compose: neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 1
fi
resolved=$("${compose[@]}" -f localstack/compose.yaml config)

ensure_emulator_venv  # for PyYAML
"$EMULATOR_VENV/bin/python" - "$resolved" <<'PY'
import re, sys, yaml
doc = yaml.safe_load(sys.argv[1])
ls, prov = doc["services"]["localstack"], doc["services"]["provision"]
problems = []
if not re.fullmatch(r"localstack/localstack:\d+\.\d+\.\d+", ls["image"]):
    problems.append(f"LocalStack image {ls['image']!r} is not pinned to a release")
# Compose v2 resolves ports to mappings, the standalone v1 to "ip:published:target/proto".
ports = [f"{p.get('host_ip')}:{p.get('published')}:{p.get('target')}" if isinstance(p, dict) else str(p) for p in ls["ports"]]
if not any(p.startswith("127.0.0.1:4566:4566") for p in ports):
    problems.append(f"LocalStack does not publish 4566 on loopback: {ports}")
if "healthcheck" not in ls:
    problems.append("LocalStack has no healthcheck for the hook to wait on")
if prov.get("depends_on", {}).get("localstack", {}).get("condition") != "service_healthy":
    problems.append("provision does not wait for LocalStack to be healthy")
if not prov["build"]["dockerfile"].endswith("provision.Dockerfile"):
    problems.append(f"provision is not built from provision.Dockerfile: {prov['build']}")
if prov["environment"].get("AWS_ENDPOINT_URL") != "http://localstack:4566":
    problems.append("provision does not talk to the LocalStack service")
if problems:
    sys.exit("compose: " + "; ".join(problems))
print(f"compose: localstack/compose.yaml is valid; {ls['image']}, port 4566, provisioning hook after the healthcheck")
PY
