#!/bin/sh
# Builds the spanrelay image with Debian's podman and no registry (make image):
# localhost/spanrelay:<VERSION>, from the Dockerfile, its build stage on the local Debian 12
# base scripts/image-base.sh makes. podman's layer cache rebuilds only what changed: with no
# source change this takes seconds. Prints the image's name and size. Root only.
set -eu
cd "$(dirname "$0")/.."

CONTAINERS_CONF=$(pwd)/scripts/containers.conf
export CONTAINERS_CONF
tag=localhost/spanrelay:$(cat VERSION)

base=$(scripts/image-base.sh)
# runc, not crun, and explicit rlimits: see scripts/containers.conf. The build stage reaches
# Debian's mirrors through the host's network.
podman build --quiet --runtime runc --network host \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --build-arg BUILD_BASE="$base" --tag "$tag" --file Dockerfile . >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image: $tag, $((size / 1024)) KiB"
