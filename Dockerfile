# normcache container image: `docker build -t normcache .`
# Build stage: the same Debian packages (scripts/deps.sh) and the same `make`
# target as CI. Runtime stage: only the shared libraries and the two binaries.

FROM debian:bookworm-slim AS build
WORKDIR /src
# The compiler and the -dev packages named in scripts/deps.sh (which also lists
# test and benchmark tools the image doesn't need), in their own layer: it is
# rebuilt only when that file changes.
COPY scripts/deps.sh /tmp/deps.sh
RUN pkgs=$(sed -n '/^PKGS=(/,/)/p' /tmp/deps.sh | tr '()' '  ' | tr -s ' \t' '\n' \
           | grep -Ex 'build-essential|pkg-config|.*-dev') \
 && test -n "$pkgs" \
 && apt-get update \
 && apt-get install -y --no-install-recommends $pkgs \
 && rm -rf /var/lib/apt/lists/*
# Only what `make` needs, so that edits to tests or docs keep the build cached.
COPY Makefile VERSION ./
COPY include/ include/
COPY src/ src/
COPY cmd/ cmd/
# `make` runs scripts/deps.sh to install whatever of that list is missing
# (redis-server, wrk, ...); here the build packages are all there, so the
# build stage's copy of it only answers "nothing missing".
RUN mkdir -p scripts && printf '#!/bin/sh\nexit 0\n' >scripts/deps.sh && chmod +x scripts/deps.sh \
 && make -j"$(nproc)" \
 && install -D -s -m 0755 -t /out build/normcache build/upstream-stub

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libhiredis0.14 libutf8proc2 libcurl4 libssl3 \
        ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin normcache
COPY --from=build /out/ /usr/local/bin/
# Containers listen on all their interfaces; everything else keeps the
# defaults of config/normcache.env and can be overridden with -e / environment:.
ENV PORT=8080 BIND_ADDR=0.0.0.0 STUB_BIND_ADDR=0.0.0.0
USER 10001:10001
EXPOSE 8080
# No curl in the image: the binary checks GET /healthz on $PORT itself (exit 0/1).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["normcache", "--healthcheck"]
# The same image runs the stub upstream: `docker run ... normcache:local upstream-stub`
CMD ["normcache"]
