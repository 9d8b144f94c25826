#!/bin/sh
# Makes the local Debian 12 image the Dockerfile's build stage starts from when no
# container registry is reachable, and prints its name:
#
#   scripts/image-base.sh        -> localhost/spanrelay-build-base:bookworm-<key>
#
# debootstrap (minbase) installs Debian 12 with the Dockerfile's BUILD_PACKAGES, from the
# Debian mirrors this machine's apt uses, with its security and point-release updates; the
# result is imported into podman's store. The key is a hash of this script and the package
# list, so a change to either makes a new base. Cached twice: the image in podman's store
# (nothing is done when it is there) and the root filesystem's tarball under build/image/
# (imported again without debootstrap when podman's store was emptied). Root only.
set -eu
cd "$(dirname "$0")/.."

CACHE=build/image
SUITE=bookworm

packages=$(tr '\n' ' ' <Dockerfile | sed -n 's/.*ARG BUILD_PACKAGES="\([^"]*\)".*/\1/p')
[ -n "$packages" ] || { echo "image-base: no ARG BUILD_PACKAGES in Dockerfile" >&2; exit 1; }
key=$( (cat "$0"; echo "$packages") | sha256sum | cut -c1-12)
name=localhost/spanrelay-build-base:$SUITE-$key
tarball=$CACHE/base-$SUITE-$key.tar

if podman image exists "$name"; then
    echo "$name"
    exit 0
fi

# The mirrors of this machine's own apt sources (deb822 or one-line form), so the base comes
# from wherever this machine gets Debian.
mirror_of() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | awk -v suite="$1" '
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && uri != "") { print uri; exit } }
        /^deb / { if ($3 == suite) { print $2; exit } }'
}
main=$(mirror_of "$SUITE")
security=$(mirror_of "$SUITE-security")
[ -n "$main" ] || { echo "image-base: no apt source for $SUITE on this machine" >&2; exit 1; }

if [ ! -f "$tarball" ]; then
    echo "image-base: debootstrap $SUITE with the build packages (about a minute)" >&2
    mkdir -p "$CACHE"
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase --include="$(echo $packages | tr ' ' ',')" \
        "$SUITE" "$rootfs" "$main" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    {
        echo "deb $main $SUITE main"
        echo "deb $main $SUITE-updates main"
        [ -z "$security" ] || echo "deb $security $SUITE-security main"
    } >"$rootfs/etc/apt/sources.list"
    # What a registry's debian:12 has: the point release and the security fixes.
    chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get upgrade -y -qq >/dev/null && apt-get clean' >&2
    tar -C "$rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
fi
podman import --quiet "$tarball" "$name" >/dev/null
echo "$name"
