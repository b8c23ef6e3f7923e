# The data-processor image from a binary built on the host: the same runtime stage as
# Dockerfile (scripts/image-layout-test.py checks they stay identical), for machines where
# that file cannot build (the legacy builder, or no registry to pull the Rust image from).
#
# Built by scripts/image.sh, which compiles the static binary on the host and passes a
# build context holding only:
#   data-processor         the worker, statically linked (<arch>-unknown-linux-gnu, +crt-static)
#   ca-certificates.crt    the host's CA bundle, for TLS to AWS endpoints
FROM scratch AS runtime
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY data-processor /usr/local/bin/data-processor
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="data-processor" \
      org.opencontainers.image.description="Job worker: runs one queued job per pod (--once) or loops (--concurrency N)" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so Kubernetes can verify runAsNonRoot; matches the chart's security context.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/data-processor"]
CMD ["--once"]
