# spanrelay sidecar image.
#
#   docker build -t spanrelay:$(cat VERSION) .
#
# Built on Debian 12 with the project's own Makefile; run on Debian 12 slim with only the
# shared libraries the daemon links, as a non-root user. The paths are the ones the Helm
# chart (helm/spanrelay) uses: configuration /etc/spanrelay/spanrelay.yaml (the chart's
# ConfigMap is mounted over it), UNIX socket in /var/run/spanrelay (the chart's emptyDir is
# mounted over it), /health and /metrics on port 13133. tests/integration/test_helm.py keeps
# the runtime package list in step with what build/spanrelay links.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config protobuf-c-compiler \
        libuv1-dev libnghttp2-dev libprotobuf-c-dev libyaml-dev libssl-dev zlib1g-dev \
        libzstd-dev libcurl4-openssl-dev libhttp-parser-dev libjson-c-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile VERSION ./
COPY proto/ proto/
COPY daemon/ daemon/
COPY cli/ cli/
COPY config/ config/
RUN make build/spanrelay && strip build/spanrelay
# The image's own defaults, for `docker run` without the chart: export stays off until
# OTEL_EXPORTER_OTLP_ENDPOINT is given, /health is reachable from outside the container.
# Checked by the daemon itself here, so an image with a configuration it refuses never builds.
RUN printf '%s\n' \
        '# spanrelay image defaults (see config/spanrelay.yaml for every key).' \
        'receiver:' \
        '  socket: /var/run/spanrelay/otlp.sock' \
        'health:' \
        '  listen: 0.0.0.0:13133' \
        > build/image.yaml \
 && build/spanrelay --check-config -c build/image.yaml

FROM debian:12-slim
# Runtime libraries of build/spanrelay only, plus ca-certificates, without which the
# exporter cannot verify an https:// backend.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libuv1 libnghttp2-14 libprotobuf-c1 libyaml-0-2 libssl3 zlib1g libzstd1 libcurl4 \
        libhttp-parser2.9 libjson-c5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Numeric ids, so that Kubernetes' runAsNonRoot can verify the user without a passwd
# lookup; 10001 is the chart's default runAsUser/runAsGroup.
RUN groupadd --system --gid 10001 spanrelay \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin spanrelay \
 && install -d -o 10001 -g 10001 -m 0770 /var/run/spanrelay \
 && install -d -m 0755 /etc/spanrelay
COPY --from=build /src/build/spanrelay /usr/local/bin/spanrelay
COPY --from=build /src/build/image.yaml /etc/spanrelay/spanrelay.yaml
USER 10001:10001
EXPOSE 13133
ENTRYPOINT ["/usr/local/bin/spanrelay"]
CMD ["-c", "/etc/spanrelay/spanrelay.yaml"]
