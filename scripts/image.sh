#!/usr/bin/env bash
# Builds the data-processor container image and prints its name and size (`make image`).
#
# Two ways, one runtime layout (scripts/image-layout-test.py checks they agree):
#   docker    data-processor/Dockerfile: the whole build in Docker (BuildKit, pulls the
#             Rust image and crates); what a machine with Docker and internet uses.
#   prebuilt  data-processor/prebuilt.Dockerfile: a static binary built here with cargo,
#             plus the host's CA bundle, on `FROM scratch`; needs no registry and works with
#             the legacy builder. What CI uses.
# The default (auto) takes `docker` when BuildKit is there and the Rust base image can be
# reached, else `prebuilt`.
#
# Usage: scripts/image.sh [TAG]    (default data-processor:dev)
# Settings: IMAGE_BUILD=auto|docker|prebuilt; IMAGE_QUIET=1 prints only the image name.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
tag=${1:-data-processor:dev}
mode=${IMAGE_BUILD:-auto}

say() {
  if [[ -z ${IMAGE_QUIET:-} ]]; then
    echo "$@" >&2
  fi
}

# The Rust image the Dockerfile's builder starts from (its RUST_VERSION default).
rust_base_image() {
  local version
  version=$(sed -n 's/^ARG RUST_VERSION=//p' data-processor/Dockerfile)
  echo "rust:${version}-slim-bookworm"
}

# Whether `docker build` of data-processor/Dockerfile can work here: BuildKit (buildx)
# answers and the base image's manifest can be fetched from its registry.
docker_build_possible() {
  docker buildx version >/dev/null 2>&1 &&
    timeout 20 docker buildx imagetools inspect "$(rust_base_image)" >/dev/null 2>&1
}

if [[ $mode == auto ]]; then
  if docker_build_possible; then
    mode=docker
  else
    mode=prebuilt
    say "==> image: no BuildKit or no registry here; building the binary on the host (prebuilt.Dockerfile)"
  fi
fi

case $mode in
  docker)
    say "==> image: docker build -f data-processor/Dockerfile"
    DOCKER_BUILDKIT=1 docker build --quiet -t "$tag" -f data-processor/Dockerfile . >/dev/null
    ;;
  prebuilt)
    target="$(uname -m)-unknown-linux-gnu"
    say "==> image: static release build for $target"
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release --locked \
      --target "$target" -p data-processor --bin data-processor
    ca_bundle=/etc/ssl/certs/ca-certificates.crt
    [[ -s $ca_bundle ]] || { echo "error: no CA bundle at $ca_bundle (install ca-certificates)" >&2; exit 1; }
    context=$(mktemp -d)
    trap 'rm -rf "$context"' EXIT
    cp "target/$target/release/data-processor" "$ca_bundle" "$context/"
    docker build --quiet -t "$tag" -f data-processor/prebuilt.Dockerfile "$context" >/dev/null
    ;;
  *)
    echo "error: IMAGE_BUILD must be auto, docker or prebuilt, not '$mode'" >&2
    exit 2
    ;;
esac

size=$(docker image inspect -f '{{.Size}}' "$tag")
say "==> image: $tag, $(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1000000 }') ($mode build)"
echo "$tag"
