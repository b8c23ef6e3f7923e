# syntax=docker/dockerfile:1
# The `provision` binary in a container: the init hook of compose.yaml, which creates the
# queue, dead-letter queue, table and schedule group in LocalStack. Built from the
# repository root; needs Docker and internet (the Rust image, crates).
ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin provision \
    && install -D target/release/provision /out/provision

FROM debian:bookworm-slim AS runtime
COPY --from=builder /out/provision /usr/local/bin/provision
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/provision"]
CMD ["local"]
