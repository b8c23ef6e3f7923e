#!/usr/bin/env bash
# Deploys the whole system to the AWS account and region of the current credentials:
# builds the Lambda zips and the worker image, runs `cdk deploy`, and pushes the image
# (tag: the git commit, or TAG) to the stack's ECR repository.
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
image=$(bash scripts/image.sh "data-processor:$tag")

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

# Push before the deploy when the repository exists, so the new ScaledJob never points
# at a missing tag; on the first deploy the repository comes with the stack.
repo=$(repository_uri)
if [[ -n $repo && $repo != None ]]; then
  push "$repo"
fi
(cd infra-cdk && npm ci --no-audit --no-fund && npx cdk deploy "$stack" --require-approval never -c "stackName=$stack" -c "imageTag=$tag" "$@")
if [[ -z $repo || $repo == None ]]; then
  push "$(repository_uri)"
fi
aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output table
