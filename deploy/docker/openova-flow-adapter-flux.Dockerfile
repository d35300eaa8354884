# syntax=docker/dockerfile:1
# openova-flow-adapter-flux: build from the repository root:
#   docker build -f deploy/docker/openova-flow-adapter-flux.Dockerfile -t openova-flow-adapter-flux:dev .
# (BuildKit reads deploy/docker/openova-flow-adapter-flux.Dockerfile.dockerignore beside this file.)

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p openova-flow-adapter-flux --locked \
    && install -D -m 0755 target/release/openova-flow-adapter-flux /out/openova-flow-adapter-flux

# distroless/cc: glibc, libgcc, CA certificates; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/openova-flow-adapter-flux /usr/local/bin/openova-flow-adapter-flux
# nonroot = 65532:65532, the uid the charts' securityContext expects.
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/openova-flow-adapter-flux"]
