# syntax=docker/dockerfile:1
#
# piigate container image: a static-ish Rust binary on distroless (glibc, no shell, non-root).
#
#   docker build -t piigate .
#   docker run --rm piigate check --config /usr/share/doc/piigate/examples/proxy.toml
#   docker run --rm -p 8443:8443 -v "$PWD/proxy.toml:/etc/piigate/proxy.toml:ro" \
#       -v piigate-state:/var/lib/piigate -e PIIGATE_KEYRING="$(cat keys.toml)" piigate
#
# The image ships no live configuration: mount yours at /etc/piigate/proxy.toml (a Kubernetes
# ConfigMap, see deploy/kubernetes/) and pass the keyring as a file or in $PIIGATE_KEYRING.
# State (the embedded store, the audit log) goes to /var/lib/piigate ($PIIGATE_STATE_DIR), a
# volume owned by the image's user: mount a persistent volume there (`-v piigate-state:…`).
# Without a config the container exits at once with an error: it never starts with example keys.
# The shipped proxy.toml and keys.example are under /usr/share/doc/piigate/examples/ for
# reference; the example keys are public.
#
# No HEALTHCHECK: distroless has no shell or curl to run one. Probe the admin listener's
# /healthz (liveness) and /readyz (readiness) from the orchestrator instead.

# Pinned to the toolchain the project is built and tested with. Bookworm, so the binary's glibc
# matches the runtime image (distroless cc-debian12 is Debian 12).
ARG RUST_VERSION=1.95.0

# Fully qualified, so podman and buildah resolve them without short-name aliases.
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches survive between builds (BuildKit); the binary is copied out of
# the cached target directory because cache mounts are not part of the layer.
# x86-64 builds require AES-NI and CLMUL (.cargo/config.toml); PORTABLE_CPU=1 builds without
# them, for CPUs that lack them (an empty RUSTFLAGS replaces the config's flags).
ARG PORTABLE_CPU=
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    if [ -n "$PORTABLE_CPU" ]; then export RUSTFLAGS=; fi \
    && cargo build --release --locked --bin piigate \
    && install -D -m 0755 target/release/piigate /out/piigate \
    && install -d -m 0700 /out/state

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/piigate /usr/local/bin/piigate
COPY proxy.toml keys.example /usr/share/doc/piigate/examples/
# The state directory, owned by the runtime user (distroless has no shell to mkdir/chown).
COPY --from=build --chown=65532:65532 /out/state /var/lib/piigate
ENV PIIGATE_STATE_DIR=/var/lib/piigate
VOLUME ["/var/lib/piigate"]
# distroless "nonroot": uid/gid 65532. Numeric, so Kubernetes can verify runAsNonRoot.
USER 65532:65532
# 8443: the application listener; 9901: admin (/healthz, /readyz, /metrics, /v1/*).
EXPOSE 8443 9901
ENTRYPOINT ["piigate"]
CMD ["serve", "--config", "/etc/piigate/proxy.toml"]
