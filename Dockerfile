# authjwt container image.
#
#   docker build -t authjwt .                                  # official node:24-bookworm-slim, pulled
#   .ci/authjwt-image.sh                                       # offline path (podman, local bases), see docs/deploy.md
#
# Build args:
#   NODE_IMAGE   runtime base (default: the official node:24-bookworm-slim)
#   BUILD_IMAGE  build base; needs npm (default: NODE_IMAGE — the official image ships npm)
#   VERSION, REVISION, CREATED, SOURCE  values of the OCI labels
#
# The runtime image: production dependencies + compiled JavaScript only; fixed non-root UID 10001;
# nothing is written at run time (works with a read-only root filesystem, no volume needed); node runs
# as PID 1 in exec form and handles SIGTERM itself (graceful drain, exit 0); no shell is used.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG BUILD_IMAGE=${NODE_IMAGE}

# ---------------------------------------------------------------- build: dev deps + tsc → dist/
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script to build or run authjwt (the ones that have
# one are optional native add-ons of the test tooling). The npm cache mount keeps rebuilds fast.
# Optional build secret `extra_ca`: a CA bundle for a TLS-intercepting egress proxy between the build
# and the npm registry (.ci/authjwt-image.sh passes $NODE_EXTRA_CA_CERTS); never stored in a layer.
RUN --mount=type=cache,target=/root/.npm,sharing=locked --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; fi \
 && npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# What `npm run build` runs, without its Node-version wrapper (this image's node is the one to use).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && test -f dist/main.js && test -f dist/telemetry/tracing.js

# ---------------------------------------------------------------- production dependencies only
FROM ${BUILD_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# Then drop what is never loaded at run time (~20 MB): source maps and TypeScript sources and
# declarations (Node does not strip types under node_modules anyway). Licenses and READMEs stay.
RUN --mount=type=cache,target=/root/.npm,sharing=locked --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; fi \
 && npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
 && find node_modules -type f \( -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' \) -delete

# ---------------------------------------------------------------- runtime
FROM ${NODE_IMAGE}
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=""
ARG SOURCE=""
ARG NODE_IMAGE
LABEL org.opencontainers.image.title="authjwt" \
      org.opencontainers.image.description="Exchanges a proven OAuth/OIDC access token for a short-lived JWT signed with keys from a Kubernetes Secret; publishes JWKS and OIDC discovery." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}" \
      org.opencontainers.image.documentation="docs/deploy.md"

WORKDIR /app
# Everything root-owned and read-only for the runtime user. Layout matters: dist/app.js imports
# ../package.json, dist/grpc/proto.js loads ../../proto/, dist/main.js falls back to ../config/dev.yaml.
COPY --from=prod-deps /src/node_modules ./node_modules
COPY package.json ./
COPY proto ./proto
COPY config ./config
COPY --from=build /src/dist ./dist

# V8 limits sized for a ~256 MiB container: the heap (and so RSS) stays bounded under a flood of
# distinct tokens instead of growing lazily toward the machine's memory (see docs/benchmarks.md).
# Raise --max-old-space-size with the container's memory limit (and cache.maxEntries).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=8" \
    AUTHJWT_CONFIG=/etc/authjwt/config.yaml
# 50051 gRPC (AuthAPI + grpc.health.v1), 8080 HTTP (JWKS, discovery, /livez, /readyz, /metrics)
EXPOSE 50051 8080
USER 10001:10001
# Exec form: node is PID 1 and receives SIGTERM directly (authjwt installs SIGTERM/SIGINT handlers,
# drains and exits 0). Absolute paths, so a pod's workingDir cannot break it.
ENTRYPOINT ["node", "--import", "/app/dist/telemetry/tracing.js", "/app/dist/main.js"]
