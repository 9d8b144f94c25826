#!/bin/sh
# Generates Python protobuf classes for the OTLP protos in proto/ into build/pygen
# (protoc --python_out; Debian's protobuf-compiler 3.21.12 matches python3-protobuf 3.21.12).
#
# google/protobuf/*.proto are not generated: the runtime already registers the
# well-known google.protobuf.Any and Duration under those file names, and the
# project's copies are wire-compatible subsets of them.
#
# Idempotent: regenerates only when a .proto (or this script) is newer than the
# stamp, into a fresh directory that then replaces build/pygen whole.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${PYGEN_DIR:-$root/build/pygen}"
stamp="$out/.stamp"

cd "$root"
protos=$(find proto -name '*.proto' ! -path 'proto/google/protobuf/*' | sed 's|^proto/||' | sort)
if [ -z "$protos" ]; then
    echo "pygen: no .proto files under $root/proto" >&2
    exit 1
fi

if [ -f "$stamp" ]; then
    newer=$(find proto "$here/pygen.sh" -newer "$stamp" \( -name '*.proto' -o -name pygen.sh \) | head -n 1)
    [ -z "$newer" ] && exit 0
fi

command -v protoc >/dev/null 2>&1 || { echo "pygen: protoc not found (Debian package protobuf-compiler)" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$(dirname "$out")/.pygen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# shellcheck disable=SC2086
protoc --proto_path=proto --python_out="$tmp" $protos
touch "$tmp/.stamp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT INT TERM
