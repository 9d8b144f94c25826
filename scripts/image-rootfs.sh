#!/bin/sh
# Assembles the root filesystem of the spanrelay image in DEST, from Debian's packages only:
#
#   scripts/image-rootfs.sh DEST BINARY... [--dlopen SONAME...]
#
# the binaries in DEST/usr/local/bin; exactly the shared libraries they load (ldd, and the
# libraries named after --dlopen, which the daemon loads itself when a configuration needs
# them, with what ldd lists for those), each
# taken out of the .deb of the package that owns it (dpkg -S), at the version installed
# here, the one the binaries were linked against (apt-get download, dpkg-deb -x); each
# package's copyright file; and the CA bundle Debian's ca-certificates builds. The layout
# is Debian 12's merged /usr (/lib -> usr/lib), so the loader finds every library where the
# package put it. Runs in the Dockerfile's build stage, as root, with apt's package lists.
set -eu

dest=$1
shift
[ $# -gt 0 ] || { echo "usage: $0 DEST BINARY... [--dlopen SONAME...]" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$dest/usr/local/bin" "$dest/usr/lib" "$dest/usr/lib64" "$dest/etc/ssl/certs"
ln -sfn usr/lib "$dest/lib"
ln -sfn usr/lib64 "$dest/lib64"
bins=""
while [ $# -gt 0 ] && [ "$1" != --dlopen ]; do
    install -m 0755 "$1" "$dest/usr/local/bin/"
    bins="$bins $1"
    shift
done
if [ $# -gt 0 ]; then shift; fi
# Each --dlopen soname as the path the loader's cache gives it.
loaded=""
for so in "$@"; do
    path=$(ldconfig -p | awk -v n="$so" '$1 == n && /x86-64/ { print $NF; exit }')
    [ -n "$path" ] || { echo "image-rootfs: no $so in the loader's cache" >&2; exit 1; }
    loaded="$loaded $path"
done

# The package owning PATH; dpkg may know it as /lib/... or /usr/lib/... (merged /usr).
owner() {
    for p in "$1" "${1#/usr}" "/usr$1"; do
        pkg=$(dpkg -S "$p" 2>/dev/null | sed -n 's/^\([^:]*\)\(:[a-z0-9]*\)\{0,1\}: .*/\1/p' | head -n 1)
        if [ -n "$pkg" ]; then
            echo "$pkg"
            return 0
        fi
    done
    echo "image-rootfs: no Debian package owns $1" >&2
    return 1
}

# Every library ldd resolves (and the loader itself), as the path it is loaded from.
# shellcheck disable=SC2086 # word splitting wanted: paths without spaces
{ ldd $bins $loaded; for path in $loaded; do echo "	x => $path"; done; } |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' |
    sort -u >"$work/libs"
[ -s "$work/libs" ] || { echo "image-rootfs: ldd found no libraries" >&2; exit 1; }

while read -r lib; do
    real=$(readlink -f "$lib")
    pkg=$(owner "$real")
    ver=$(dpkg-query -W -f='${Version}' "$pkg")
    if [ ! -d "$work/pkg/$pkg" ]; then
        # As root: apt's sandbox user cannot write to this private directory.
        (cd "$work" && apt-get download -q=2 -o APT::Sandbox::User=root "$pkg=$ver")
        deb=$(ls "$work/${pkg}_"*.deb)
        mkdir -p "$work/pkg/$pkg"
        dpkg-deb -x "$deb" "$work/pkg/$pkg"
        rm -f "$deb"
        if [ -f "$work/pkg/$pkg/usr/share/doc/$pkg/copyright" ]; then
            install -D -m 0644 "$work/pkg/$pkg/usr/share/doc/$pkg/copyright" \
                "$dest/usr/share/doc/$pkg/copyright"
        fi
    fi
    # The file as the package ships it, under its merged-/usr name; then the name the
    # loader asks for (the soname link, or /lib64/ld-linux-x86-64.so.2) beside it.
    found=""
    for p in "$real" "${real#/usr}" "/usr${real#/usr}"; do
        [ -f "$work/pkg/$pkg$p" ] && [ ! -L "$work/pkg/$pkg$p" ] && found="$work/pkg/$pkg$p" && break
    done
    [ -n "$found" ] || { echo "image-rootfs: $pkg does not ship $real" >&2; exit 1; }
    target="$dest/usr${real#/usr}"
    mkdir -p "$(dirname "$target")"
    cp -p "$found" "$target"    # the package's own mode: the loader is executable
    asked="$dest/usr${lib#/usr}"
    if [ "$asked" != "$target" ]; then
        mkdir -p "$(dirname "$asked")"
        ln -sfn "$(realpath --relative-to="$(dirname "$asked")" "$target")" "$asked"
    fi
    echo "image-rootfs: ${lib} from $pkg $ver" >&2
done <"$work/libs"

# OpenSSL (and so the exporter) looks for the bundle under its OPENSSLDIR, /usr/lib/ssl,
# which Debian points at /etc/ssl/certs.
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$dest/usr/lib/ssl"
ln -sfn /etc/ssl/certs "$dest/usr/lib/ssl/certs"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$dest/usr/lib/ssl/cert.pem"
