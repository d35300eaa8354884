# openova-flow-adapter-flux: a static (musl) binary on an empty base.
# Built by scripts/images, which prepares the context (rootfs/: the binary, /etc/passwd,
# /etc/group, /etc/hosts, Debian's CA bundle; home/) and runs
#   buildah bud --storage-driver vfs --isolation chroot -f <this file> <context>
# Any OCI builder works the same way on that context (docker build -f <this file> <context>).
FROM scratch

ARG VERSION
ARG REVISION

COPY rootfs/ /
COPY --chown=65532:65532 home/ /home/

ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# nonroot = 65532:65532, the uid the charts' securityContext expects.
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/openova-flow-adapter-flux"]

LABEL org.opencontainers.image.title="openova-flow-adapter-flux" \
      org.opencontainers.image.description="Watches Flux HelmReleases and HelmCharts and posts FlowMessages to openova-flow-server" \
      org.opencontainers.image.source="https://github.com/openova-io/openova-flow" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
