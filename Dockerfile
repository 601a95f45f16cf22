# Rolegate: a static, pure-Go binary (SQLite is pure Go, so no CGO) in a
# distroless image that runs as a non-root user.
#
#   docker build -t rolegate .
#   docker run -p 8080:8080 -v rolegate-data:/data -e ROLEGATE_ADMIN_TOKEN=... rolegate
#
# Plain Dockerfile syntax (no RUN --mount), so it builds with BuildKit and with
# the legacy builder that Debian's docker-compose 1.29 falls back to when
# docker-buildx is not installed.

# Reproducible: the base images are pinned (a Go patch release; pin the
# runtime image's digest for releases, e.g.
#   --build-arg RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:<digest>),
# the binary is built without paths, VCS stamps or build ids, and every file
# copied into the image carries SOURCE_DATE_EPOCH as its time (BuildKit also
# uses it for the image's own timestamps):
#   docker build --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
#     --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) -t rolegate .
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
ARG SOURCE_DATE_EPOCH=0
# What `rolegate version` prints (the build info has no VCS data here):
#   --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD)
ARG VERSION=devel
ARG COMMIT=unknown
WORKDIR /src
# The module cache is its own layer: it is downloaded again only when go.mod
# or go.sum change, not on every source edit. The server's go.mod replaces
# the api and client modules with their directories, so their go.mod files
# come along (go.work, copied with the sources, joins the same four).
COPY go.mod go.sum ./
COPY api/go.mod api/go.sum ./api/
COPY client/go.mod client/go.sum ./client/
COPY client/ginguard/go.mod client/ginguard/go.sum ./client/ginguard/
RUN go mod download && go mod verify
COPY . .
# /data is made here because the final image has no shell to mkdir with;
# it is copied over owned by the non-root user so SQLite can write there.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags="-s -w -buildid= -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=$(date -u -d @${SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ)" \
        -o /out/rolegate ./cmd/rolegate \
    && mkdir -p /out/data \
    && touch -h -d "@${SOURCE_DATE_EPOCH}" /out/rolegate /out/data

# distroless static: CA certificates, tzdata and /etc/passwd with the
# "nonroot" user (65532); no shell, no package manager.
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/rolegate /rolegate
COPY --from=build --chown=65532:65532 /out/data /data
# Numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /data
# Without a database URL the service keeps its SQLite file on the volume;
# set ROLEGATE_DATABASE_URL to postgres://... or mysql://... to use a server.
ENV ROLEGATE_ADDR=:8080 \
    ROLEGATE_DATABASE_URL=sqlite:///data/rolegate.db
VOLUME ["/data"]
EXPOSE 8080
# No HEALTHCHECK: the image has no shell or HTTP client to run one with.
# Orchestrators probe GET /healthz (liveness) and GET /readyz (readiness:
# 503 while the database does not answer) on port 8080.
ENTRYPOINT ["/rolegate"]
CMD ["serve"]
