# spanrelay sidecar image: the daemon and spanrelay-emit, exactly the shared libraries they
# load, CA certificates and a passwd entry for 10001 — nothing else (no shell, no package
# manager), on a scratch base.
#
#   make image                               podman, no registry (scripts/image.sh)
#   docker build -t spanrelay:$(cat VERSION) .   where Debian's image can be pulled
#
# BUILD_BASE is the build stage's Debian 12: debian:12 from a registry, or the local image
# scripts/image-base.sh makes with debootstrap when no registry is reachable (make image).
# The paths are the ones the Helm chart (helm/spanrelay) uses: configuration
# /etc/spanrelay/spanrelay.yaml (the chart's ConfigMap is mounted over the directory), UNIX
# socket in /var/run/spanrelay (the chart's emptyDir is mounted over it), /health and
# /metrics on port 13133. tests/integration/test_image.py runs the image the way the chart
# does; tests/integration/test_helm.py keeps this file in step with the chart.

ARG BUILD_BASE=debian:12

FROM ${BUILD_BASE} AS build
# scripts/image-base.sh installs this same list into the local base (it reads it from
# here), so with that base this step downloads only the package lists.
ARG BUILD_PACKAGES="build-essential pkg-config protobuf-c-compiler libuv1-dev libnghttp2-dev libprotobuf-c-dev libyaml-dev libssl-dev zlib1g-dev libzstd-dev libdeflate-dev libcurl4-openssl-dev libhttp-parser-dev libjson-c-dev ca-certificates"
# The package lists stay: scripts/image-rootfs.sh downloads the runtime packages with them.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $BUILD_PACKAGES
WORKDIR /src
COPY Makefile VERSION ./
COPY proto/ proto/
COPY daemon/ daemon/
COPY cli/ cli/
RUN make -j2 build/spanrelay build/spanrelay-emit \
 && strip build/spanrelay build/spanrelay-emit
# The image's own defaults, for a run without the chart: export stays off until
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
COPY scripts/image-rootfs.sh scripts/
RUN scripts/image-rootfs.sh /rootfs build/spanrelay build/spanrelay-emit --dlopen $(make -s dlopen-libs)
# Numeric ids, so that Kubernetes' runAsNonRoot can verify the user without a passwd
# lookup; 10001 is the chart's default runAsUser/runAsGroup. The socket directory is the
# user's, for a run without the chart's emptyDir.
RUN printf 'root:x:0:0:root:/root:/sbin/nologin\nspanrelay:x:10001:10001:spanrelay:/nonexistent:/sbin/nologin\n' \
        > /rootfs/etc/passwd \
 && printf 'root:x:0:\nspanrelay:x:10001:\n' > /rootfs/etc/group \
 && install -d -o 10001 -g 10001 -m 0770 /rootfs/var/run/spanrelay \
 && install -D -m 0644 build/image.yaml /rootfs/etc/spanrelay/spanrelay.yaml \
 && chroot /rootfs /usr/local/bin/spanrelay --check-config -c /etc/spanrelay/spanrelay.yaml \
 && chroot /rootfs /usr/local/bin/spanrelay-emit --version

FROM scratch
COPY --from=build /rootfs/ /
USER 10001:10001
EXPOSE 13133
ENTRYPOINT ["/usr/local/bin/spanrelay"]
CMD ["-c", "/etc/spanrelay/spanrelay.yaml"]
