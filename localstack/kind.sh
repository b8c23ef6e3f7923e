#!/usr/bin/env bash
# The real KEDA path on a laptop (needs Docker and internet): `make kind-up` / `make kind-down`.
#
# up:   creates the kind cluster (localstack/kind.yaml), installs KEDA with Helm (the
#       version of the CRDs the chart is checked against), starts LocalStack and its
#       provisioning hook (localstack/compose.yaml), attaches LocalStack to kind's network
#       as `localstack`, builds the worker image and loads it into the nodes, renders the
#       chart for local use (cdk8s/local.ts) and applies it. Then each queued job is a pod.
#       If a step fails, it removes what this run created (the cluster, LocalStack).
# down: deletes the cluster and stops LocalStack.
#
# Settings (environment): KIND_CLUSTER_NAME (default jobs), JOBS_PREFIX (default local, the
# prefix `make run` provisions too), AWS_REGION (default us-east-1), LOCALSTACK_PORT
# (default 4566).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# KEDA's Helm chart, pinned to the version of the CRDs the chart is validated against.
KEDA_CHART_VERSION=2.20.2
KEDA_CHART_REPO=https://kedacore.github.io/charts
CLUSTER=${KIND_CLUSTER_NAME:-jobs}
CONTEXT="kind-$CLUSTER"
IMAGE=data-processor:dev
COMPOSE_PROJECT=jobs-localstack
export JOBS_PREFIX=${JOBS_PREFIX:-local}
export AWS_REGION=${AWS_REGION:-us-east-1}
RENDERED="$ROOT/cdk8s/dist/local/data-processor.k8s.yaml"

say() { printf '==> %s\n' "$*"; }
die() {
  echo "error: $*" >&2
  exit 1
}

# check_tools TOOL...: the tools the steps use, checked before anything is created; names
# all that are missing. Then the Docker engine and Compose.
check_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    die "this needs $*; missing: ${missing[*]}"
  fi
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
  else
    die "make kind-up needs Docker Compose (the 'docker compose' plugin or docker-compose)"
  fi
  COMPOSE+=(-f "$ROOT/localstack/compose.yaml" -p "$COMPOSE_PROJECT")
}

created_cluster=""
started_localstack=""
# shellcheck disable=SC2329  # invoked by the EXIT trap
undo_on_failure() {
  local status=$?
  trap - EXIT
  if ((status != 0)); then
    echo "error: kind-up failed (exit $status); removing what it created" >&2
    if [[ -n $started_localstack ]]; then
      "${COMPOSE[@]}" down --volumes >&2 || true
    fi
    if [[ -n $created_cluster ]]; then
      kind delete cluster --name "$CLUSTER" >&2 || true
    fi
  fi
  exit "$status"
}

# wait_healthy CONTAINER SECONDS: waits for the container's healthcheck to pass.
wait_healthy() {
  local deadline=$((SECONDS + $2)) health
  until health=$(docker inspect -f '{{.State.Health.Status}}' "$1") && [[ $health == healthy ]]; do
    ((SECONDS < deadline)) || die "LocalStack is not healthy after $2 s (status: ${health:-unknown}); see: ${COMPOSE[*]} logs localstack"
    sleep 2
  done
}

up() {
  check_tools kind helm kubectl docker npm npx
  trap undo_on_failure EXIT

  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    say "kind cluster $CLUSTER exists; using it"
  else
    say "creating the kind cluster $CLUSTER"
    created_cluster=1
    kind create cluster --name "$CLUSTER" --config "$ROOT/localstack/kind.yaml" --wait 180s
  fi

  say "installing KEDA $KEDA_CHART_VERSION"
  helm upgrade --install keda keda --repo "$KEDA_CHART_REPO" --version "$KEDA_CHART_VERSION" \
    --kube-context "$CONTEXT" --namespace keda --create-namespace --wait --timeout 5m

  say "starting LocalStack and provisioning the queue, table and schedule group"
  started_localstack=1
  "${COMPOSE[@]}" up -d localstack
  local container
  container=$("${COMPOSE[@]}" ps -q localstack)
  [[ -n $container ]] || die "the LocalStack container did not start"
  wait_healthy "$container" 180
  local provisioned
  provisioned=$("${COMPOSE[@]}" run --rm -T provision "$JOBS_PREFIX")
  local name value
  while IFS='=' read -r name value; do
    [[ $name == JOBS_* ]] && export "$name=$value"
  done <<<"$provisioned"
  [[ -n ${JOBS_QUEUE_URL:-} && -n ${JOBS_TABLE_NAME:-} ]] || die "provision printed no queue or table: $provisioned"

  # Pods reach LocalStack by name on kind's Docker network.
  if ! docker inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}' "$container" | grep -qw kind; then
    docker network connect --alias localstack kind "$container"
  fi

  say "building the worker image and loading it into the nodes"
  IMAGE_ARCH=host bash "$ROOT/scripts/image.sh" "$IMAGE"
  kind load docker-image "$IMAGE" --name "$CLUSTER"

  say "rendering the chart for kind + LocalStack and applying it"
  (
    cd "$ROOT/cdk8s"
    npm ci --no-audit --no-fund --loglevel=error
    CDK8S_CHECK_UPGRADE=false npx cdk8s synth --app 'npx ts-node local.ts' --output dist/local
  )
  kubectl --context "$CONTEXT" apply -f "$RENDERED"
  kubectl --context "$CONTEXT" -n jobs wait --for=condition=Ready scaledjob/data-processor --timeout=120s

  trap - EXIT
  cat <<MSG

  kind cluster $CLUSTER with KEDA $KEDA_CHART_VERSION; LocalStack on http://127.0.0.1:${LOCALSTACK_PORT:-4566}
  Queue: $JOBS_QUEUE_URL   Table: $JOBS_TABLE_NAME

  Run the API against LocalStack, without local workers (the cluster runs the jobs):
    AWS_ENDPOINT_URL=http://127.0.0.1:${LOCALSTACK_PORT:-4566} WORKER_CONCURRENCY=0 make run
  Then the README's curl flow; watch each job become a pod:
    kubectl --context $CONTEXT -n jobs get jobs,pods -w

  make kind-down removes the cluster and LocalStack.
MSG
}

down() {
  check_tools kind docker
  say "deleting the kind cluster $CLUSTER and stopping LocalStack"
  kind delete cluster --name "$CLUSTER"
  "${COMPOSE[@]}" down --volumes
}

case ${1:-} in
  up) up ;;
  down) down ;;
  *)
    echo "usage: localstack/kind.sh up|down" >&2
    exit 2
    ;;
esac
