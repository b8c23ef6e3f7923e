#!/usr/bin/env bash
# Builds the data-processor container image: a static release binary on `FROM scratch`.
# Usage: scripts/image.sh [TAG]   (default data-processor:dev)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
tag=${1:-data-processor:dev}
target=x86_64-unknown-linux-gnu

RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release --locked \
  --target "$target" -p data-processor --bin data-processor

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "target/$target/release/data-processor" "$context/"
cp /etc/ssl/certs/ca-certificates.crt "$context/"
docker build --quiet -t "$tag" -f data-processor/Dockerfile "$context" >/dev/null
echo "$tag"
