#!/usr/bin/env bash
# Checks localstack/kind.sh (`make kind-up` / `make kind-down`) without a cluster: runs it
# with stub kind, helm, kubectl, docker, npm and npx on PATH that record their arguments,
# and asserts the exact sequence of commands, the pinned KEDA version (the version of the
# CRDs in ../shared/crds), the clear message when a tool is missing, and that a failing
# step removes what the run created, and only that.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stubs="$work/bin"
mkdir -p "$stubs"
failures=0
passed=0

# One stub for every tool: records "tool args" (and, for npx, the settings the chart
# render gets), answers what kind.sh and image.sh ask, and fails where STUB_FAIL (a
# prefix of "tool args") says.
cat >"$stubs/stub" <<'STUB'
#!/usr/bin/env bash
tool=$(basename "$0")
call="$tool $*"
echo "$call" >>"$STUB_LOG"
if [[ $tool == npx ]]; then
  echo "  env JOBS_QUEUE_URL=$JOBS_QUEUE_URL JOBS_TABLE_NAME=$JOBS_TABLE_NAME" >>"$STUB_LOG"
fi
if [[ -n ${STUB_FAIL:-} && $call == "$STUB_FAIL"* ]]; then
  echo "stub: $tool fails here" >&2
  exit 1
fi
case "$call" in
  "docker info") [[ -z ${STUB_DOCKER_DOWN:-} ]] || exit 1 ;;
  "docker compose version") echo "Docker Compose version v2.30.3" ;;
  "docker compose "*" ps -q localstack") echo c0ffee ;;
  "docker compose "*" run --rm -T provision "*)
    echo "JOBS_QUEUE_URL=http://localhost.localstack.cloud:4566/000000000000/${*: -1}-jobs"
    echo "JOBS_TABLE_NAME=local-jobs"
    echo "JOBS_COUNTERS=stream"
    ;;
  "docker inspect -f {{.State.Health.Status}} c0ffee") echo healthy ;;
  "docker inspect -f "*" c0ffee") echo "jobs-localstack_default " ;;
  "docker image inspect -f {{.Size}} "*) echo 11534336 ;;
  "kind get clusters") echo "${STUB_EXISTING_CLUSTERS:-}" ;;
esac
exit 0
STUB
chmod +x "$stubs/stub"
for tool in kind helm kubectl docker npm npx; do
  ln -s stub "$stubs/$tool"
done

# run NAME PATH [VAR=VALUE...] -- ARGS: runs kind.sh with the stubs; sets out, status, calls.
run() {
  local name=$1 path=$2
  shift 2
  local vars=()
  while [[ $1 != -- ]]; do
    vars+=("$1")
    shift
  done
  shift
  STUB_LOG="$work/$name.calls"
  : >"$STUB_LOG"
  set +e
  out=$(env -i HOME="$work" PATH="$path" STUB_LOG="$STUB_LOG" "${vars[@]}" "$BASH" localstack/kind.sh "$@" 2>&1)
  status=$?
  set -e
  calls=$(sed "s#$ROOT#<root>#g" "$STUB_LOG")
}

check() {
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failures=$((failures + 1))
    echo "FAIL: $what" >&2
    echo "--- output:" >&2
    echo "$out" >&2
    echo "--- calls:" >&2
    echo "$calls" >&2
  fi
}
same() { diff <(echo "$1") <(echo "$2") >&2; }
has_line() { grep -qxF -- "$2" <<<"$1"; }
lacks() { ! grep -qF -- "$2" <<<"$1"; }

compose="docker compose -f <root>/localstack/compose.yaml -p jobs-localstack"
rust_image="rust:$(sed -n 's/^ARG RUST_VERSION=//p' data-processor/Dockerfile)-slim-bookworm"
up_calls="docker info
docker compose version
kind get clusters
kind create cluster --name jobs --config <root>/localstack/kind.yaml --wait 180s
helm upgrade --install keda keda --repo https://kedacore.github.io/charts --version 2.20.2 --kube-context kind-jobs --namespace keda --create-namespace --wait --timeout 5m
$compose up -d localstack
$compose ps -q localstack
docker inspect -f {{.State.Health.Status}} c0ffee
$compose run --rm -T provision local
docker inspect -f {{range \$name, \$_ := .NetworkSettings.Networks}}{{\$name}} {{end}} c0ffee
docker network connect --alias localstack kind c0ffee
docker buildx version
docker buildx imagetools inspect $rust_image
docker build --quiet -t data-processor:dev -f data-processor/Dockerfile .
docker image inspect -f {{.Size}} data-processor:dev
kind load docker-image data-processor:dev --name jobs
npm ci --no-audit --no-fund --loglevel=error
npx cdk8s synth --app npx ts-node local.ts --output dist/local
  env JOBS_QUEUE_URL=http://localhost.localstack.cloud:4566/000000000000/local-jobs JOBS_TABLE_NAME=local-jobs
kubectl --context kind-jobs apply -f <root>/cdk8s/dist/local/data-processor.k8s.yaml
kubectl --context kind-jobs -n jobs wait --for=condition=Ready scaledjob/data-processor --timeout=120s"

run up "$stubs:$PATH" -- up
check "kind-up succeeds" [ "$status" -eq 0 ]
check "kind-up runs the steps in order with the pinned versions" same "$calls" "$up_calls"
check "kind-up says how to use it" grep -q "WORKER_CONCURRENCY=0 make run" <<<"$out"

# The pinned KEDA chart is the version of the CRDs the chart is validated against.
crds_readme="$ROOT/../shared/crds/README.md"
if [[ -f $crds_readme ]]; then
  # shellcheck disable=SC2016  # the backquotes are the README's, not a command
  crd_version=$(grep -A3 '^## KEDA' "$crds_readme" | sed -n 's/.*Tag: `v\([0-9.]*\)`.*/\1/p')
  check "KEDA $crd_version of the CRDs is the pinned chart version" grep -q -- "--version $crd_version " <<<"$calls"
elif [[ ${CI:-} == true ]]; then
  echo "FAIL: $crds_readme is missing (required when CI=true)" >&2
  failures=$((failures + 1))
else
  echo "kind: NOT CHECKED here: the KEDA version against ../shared/crds (absent)"
fi

run fail-apply "$stubs:$PATH" STUB_FAIL="kubectl --context kind-jobs apply" -- up
check "a failing apply fails kind-up" [ "$status" -ne 0 ]
check "a failing apply stops LocalStack" has_line "$calls" "$compose down --volumes"
check "a failing apply deletes the cluster it created" has_line "$calls" "kind delete cluster --name jobs"
check "nothing runs after the failing apply but the cleanup" same "$(sed -n '/apply -f/,$p' <<<"$calls")" \
  "kubectl --context kind-jobs apply -f <root>/cdk8s/dist/local/data-processor.k8s.yaml
$compose down --volumes
kind delete cluster --name jobs"

run fail-helm "$stubs:$PATH" STUB_FAIL="helm upgrade" -- up
check "a failing KEDA install fails kind-up" [ "$status" -ne 0 ]
check "a failing KEDA install deletes the cluster" has_line "$calls" "kind delete cluster --name jobs"
check "a failing KEDA install leaves LocalStack alone (not started yet)" lacks "$calls" "-p jobs-localstack"

run existing "$stubs:$PATH" STUB_EXISTING_CLUSTERS=jobs STUB_FAIL="kind load" -- up
check "an existing cluster is used, not created" lacks "$calls" "kind create"
check "a failure keeps a cluster this run did not create" lacks "$calls" "kind delete"
check "a failure still stops the LocalStack it started" has_line "$calls" "$compose down --volumes"

# A PATH with bash and the basics but without kind and helm (kubectl may be installed here).
minimal="$work/minimal"
mkdir -p "$minimal"
ln -s "$(command -v dirname)" "$minimal/dirname"
for tool in kubectl docker npm npx; do
  ln -s "$stubs/stub" "$minimal/$tool"
done
run missing "$minimal" -- up
check "missing tools fail kind-up" [ "$status" -eq 1 ]
check "the message names every missing tool" grep -q "missing: kind helm$" <<<"$out"
check "nothing runs when a tool is missing" [ -z "$calls" ]

run docker-down "$stubs:$PATH" STUB_DOCKER_DOWN=1 -- up
check "a Docker engine that does not answer is named" grep -q "Docker engine does not answer" <<<"$out"
check "nothing is created without a Docker engine" same "$calls" "docker info"

run down "$stubs:$PATH" -- down
check "kind-down succeeds" [ "$status" -eq 0 ]
check "kind-down deletes the cluster and stops LocalStack" same "$calls" "docker info
docker compose version
kind delete cluster --name jobs
$compose down --volumes"

echo "kind: $passed passed, $failures failed"
((failures == 0))
