# syntax=docker/dockerfile:1
# openova-flow-server: build from the repository root:
#   docker build -f deploy/docker/openova-flow-server.Dockerfile -t openova-flow-server:dev .
# (BuildKit reads deploy/docker/openova-flow-server.Dockerfile.dockerignore beside this file.)

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p openova-flow-server --locked \
    && install -D -m 0755 target/release/openova-flow-server /out/openova-flow-server

# distroless/cc: glibc, libgcc, CA certificates; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/openova-flow-server /usr/local/bin/openova-flow-server
# nonroot = 65532:65532, the uid the charts' securityContext expects.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/openova-flow-server"]
