#!/usr/bin/env bash
# Regenerates imports/ (typed cdk8s constructs) from the upstream CRDs kept in
# shared/crds/ beside the repository: KEDA v2.20.2 and Karpenter (AWS) v1.14.1.
#
# `cdk8s import` writes one module per API group and takes one spec per run, so
# the CRD files are concatenated first: that way keda.sh (ScaledJob and
# TriggerAuthentication) lands in a single module instead of one run
# overwriting the other. Core Kubernetes types come from cdk8s-plus-33's `k8s`
# module (`cdk8s import k8s` needs the network).
#
# Usage: npm run import            (writes imports/; run from cdk8s/)
#        bash scripts/import-crds.sh OUTDIR   (writes OUTDIR instead, e.g. to compare)
# CRDS_DIR overrides the CRD folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crds="${CRDS_DIR:-$here/../../shared/crds}"
out="${1:-imports}"
cd "$here"

files=(
  "$crds/keda/keda.sh_scaledjobs.yaml"
  "$crds/keda/keda.sh_triggerauthentications.yaml"
  "$crds/karpenter/karpenter.sh_nodepools.yaml"
  "$crds/karpenter/karpenter.k8s.aws_ec2nodeclasses.yaml"
)
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "missing CRD file: $f (set CRDS_DIR)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for f in "${files[@]}"; do
  cat "$f"
  echo
done > "$tmp/crds.yaml"

rm -rf "$out"
CDK8S_CHECK_UPGRADE=false npx cdk8s import --no-save --language typescript --output "$out" "$tmp/crds.yaml"
ls -1 "$out"
