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
# The image is built for the job nodes' architecture, whatever machine builds it: the
# NodePool allows NODE_ARCH only (cdk8s/src/node-pool.ts, its `kubernetes.io/arch`
# default), and infra-cdk/test/job-workers-image-arch.test.ts fails if the two drift. An
# image built on an arm64 laptop for an amd64 node would fail there with `exec format error`.
#
# Usage: scripts/image.sh [TAG]          (default data-processor:dev)
#        scripts/image.sh --print-platform   prints the platform it builds for, builds nothing
# Settings: IMAGE_BUILD=auto|docker|prebuilt; IMAGE_QUIET=1 prints only the image name;
#   IMAGE_ARCH=amd64|arm64|host (default NODE_ARCH; `host` = this machine's architecture,
#   for images that only run here: kind, the container test).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
NODE_ARCH=amd64
arch=${IMAGE_ARCH:-$NODE_ARCH}
case $arch in
  amd64 | arm64 | host) ;;
  *)
    echo "error: IMAGE_ARCH must be amd64, arm64 or host, not '$arch'" >&2
    exit 2
    ;;
esac
if [[ ${1:-} == --print-platform ]]; then
  echo "linux/$arch"
  exit 0
fi
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

# Rust's name of a Docker architecture.
rust_arch() {
  case $1 in
    amd64) echo x86_64 ;;
    arm64) echo aarch64 ;;
  esac
}

host_arch=$(uname -m)
# --platform for a target architecture; none for `host` (the builder's own).
platform_args=()
if [[ $arch != host ]]; then
  platform_args=(--platform "linux/$arch")
fi

case $mode in
  docker)
    say "==> image: docker build -f data-processor/Dockerfile ${platform_args[*]}"
    DOCKER_BUILDKIT=1 docker build --quiet "${platform_args[@]}" -t "$tag" -f data-processor/Dockerfile . >/dev/null
    ;;
  prebuilt)
    if [[ $arch == host ]]; then
      target="$host_arch-unknown-linux-gnu"
    else
      target="$(rust_arch "$arch")-unknown-linux-gnu"
    fi
    if [[ $target != "$host_arch-unknown-linux-gnu" ]]; then
      # Cross-compiling the static binary needs a linker for the target.
      linker_var="CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$target")_LINKER"
      cross_gcc="$(rust_arch "$arch")-linux-gnu-gcc"
      if [[ -z ${!linker_var:-} ]] && command -v "$cross_gcc" >/dev/null; then
        export "$linker_var=$cross_gcc"
      fi
      if [[ -z ${!linker_var:-} ]]; then
        echo "error: building for linux/$arch on a $host_arch machine needs a $target linker:" >&2
        echo "  install $cross_gcc (and rustup target add $target), set $linker_var," >&2
        echo "  or use IMAGE_BUILD=docker (cross-compiles in Docker with BuildKit)" >&2
        exit 1
      fi
    fi
    say "==> image: static release build for $target"
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release --locked \
      --target "$target" -p data-processor --bin data-processor
    ca_bundle=/etc/ssl/certs/ca-certificates.crt
    [[ -s $ca_bundle ]] || { echo "error: no CA bundle at $ca_bundle (install ca-certificates)" >&2; exit 1; }
    context=$(mktemp -d)
    trap 'rm -rf "$context"' EXIT
    cp "target/$target/release/data-processor" "$ca_bundle" "$context/"
    docker build --quiet "${platform_args[@]}" -t "$tag" -f data-processor/prebuilt.Dockerfile "$context" >/dev/null
    ;;
  *)
    echo "error: IMAGE_BUILD must be auto, docker or prebuilt, not '$mode'" >&2
    exit 2
    ;;
esac

if [[ $arch != host ]]; then
  built=$(docker image inspect -f '{{.Architecture}}' "$tag")
  if [[ $built != "$arch" ]]; then
    echo "error: $tag was built for $built, not linux/$arch" >&2
    exit 1
  fi
fi
size=$(docker image inspect -f '{{.Size}}' "$tag")
say "==> image: $tag, $(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1000000 }') ($mode build)"
echo "$tag"
