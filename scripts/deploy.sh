#!/usr/bin/env bash
# Deploys the whole system to the AWS account and region of the current credentials:
# builds the Lambda zips and the worker image (for the job nodes' architecture), pushes
# the image (tag: the git commit, or TAG) to the stack's ECR repository and runs
# `cdk deploy`. The image is always in the repository before the ScaledJob runs Jobs
# that name it:
#   - the stack exists: push, then deploy;
#   - first deploy (no repository yet): deploy with the ScaledJob paused
#     (-c workersPaused=true: KEDA starts no Jobs, submitted jobs wait in the queue),
#     push to the new repository, then deploy again unpaused.
# An interrupted first deploy heals on the next run (the repository exists by then).
# Usage: scripts/deploy.sh [TAG] [-- extra cdk arguments, e.g. -c clusterAdminRoleArn=...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

tag=${1:-$(git rev-parse --short=12 HEAD)}
shift || true
[[ ${1:-} == -- ]] && shift
stack=${STACK_NAME:-JobsApi}
region=${AWS_REGION:-$(aws configure get region)}
if [[ -z $region ]]; then
  echo "error: set AWS_REGION (or a default region in the AWS CLI configuration)" >&2
  exit 2
fi
export AWS_REGION=$region

bash scripts/lambdas.sh
# The nodes' architecture, whatever IMAGE_ARCH this shell has.
image=$(env -u IMAGE_ARCH bash scripts/image.sh "data-processor:$tag")

repository_uri() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='RepositoryUri'].OutputValue" --output text 2>/dev/null || true
}

push() {
  local repo=$1
  aws ecr get-login-password | docker login --username AWS --password-stdin "${repo%%/*}"
  if aws ecr describe-images --repository-name "${repo#*/}" --image-ids "imageTag=$tag" >/dev/null 2>&1; then
    echo "image $repo:$tag is already there (tags are immutable)"
  else
    docker tag "$image" "$repo:$tag"
    docker push "$repo:$tag"
  fi
}

cdk_deploy() {
  (cd infra-cdk && npx cdk deploy "$stack" --require-approval never -c "stackName=$stack" -c "imageTag=$tag" "$@")
}

(cd infra-cdk && npm ci --no-audit --no-fund)
repo=$(repository_uri)
if [[ -n $repo && $repo != None ]]; then
  push "$repo"
  cdk_deploy "$@"
else
  echo "==> first deploy: the stack with the workers paused, then the image, then the workers"
  cdk_deploy -c workersPaused=true "$@"
  repo=$(repository_uri)
  if [[ -z $repo || $repo == None ]]; then
    echo "error: stack $stack has no RepositoryUri output after the deploy" >&2
    exit 1
  fi
  push "$repo"
  cdk_deploy "$@"
fi
aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output table
