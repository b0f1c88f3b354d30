#!/bin/bash
# Obtain the pinned upstream QEMU source (qemu.version), verify it and
# extract it into OUTDIR.
#
#   fetch-qemu.sh OUTDIR                 apt-get source from Debian's archive
#   fetch-qemu.sh OUTDIR --dsc=FILE      a local copy of the source package
#   fetch-qemu.sh OUTDIR --src=DIR       an upstream v10.2.2 tree or checkout
#
# apt-get runs with a private state directory: the machine's own apt sources
# are only read, to reuse the archive URI they name.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../qemu.version
. "$top/qemu.version"

die() { echo "fetch-qemu: $*" >&2; exit 1; }

out=${1:?usage: fetch-qemu.sh OUTDIR [--dsc=FILE | --src=DIR]}
shift
dsc= src=
for arg; do
    case $arg in
    --dsc=*) dsc=${arg#--dsc=} ;;
    --src=*) src=${arg#--src=} ;;
    *) die "unknown option $arg" ;;
    esac
done

rm -rf "$out"

if [ -n "$src" ]; then
    [ -f "$src/VERSION" ] || die "$src is not a QEMU source tree"
    v=$(cat "$src/VERSION")
    [ "$v" = "$QEMU_VERSION" ] || die "$src is QEMU $v, need $QEMU_VERSION"
    mkdir -p "$out"
    if [ -e "$src/.git" ]; then
        git -C "$src" archive --format=tar HEAD | tar -x -C "$out"
    else
        tar -C "$src" --exclude=./build --exclude=./.git -cf - . |
            tar -x -C "$out"
    fi
    echo "QEMU $QEMU_VERSION from $src" > "$out/.csd-base"
    exit 0
fi

dl=$(dirname "$out")/dl
if [ -z "$dsc" ]; then
    mkdir -p "$dl"
    dsc=$dl/$DSC
    if ! sha256sum --status -c - <<<"$DSC_SHA256  $dsc" 2>/dev/null; then
        apt="$dl/apt"
        mkdir -p "$apt/etc" "$apt/lists/partial"
        uri=$("$top/scripts/debian-uri.sh")
        cat > "$apt/etc/csd-src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: $DEB_SUITES
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        aptopts=(-o Dir::Etc::SourceList=/dev/null
                 -o "Dir::Etc::SourceParts=$apt/etc"
                 -o "Dir::State::Lists=$apt/lists"
                 -o APT::Sandbox::User=root)
        apt-get "${aptopts[@]}" -q update >&2 ||
            die "apt-get update of the deb-src lists failed"
        (cd "$dl" && apt-get "${aptopts[@]}" -q source --download-only \
            "$DEB_SOURCE=$DEB_VERSION") >&2 ||
            die "the archive does not serve $DEB_SOURCE $DEB_VERSION;" \
                "give a copy with ./configure --qemu-dsc=FILE"
    fi
fi

[ -f "$dsc" ] || die "$dsc: no such file"
dir=$(cd "$(dirname "$dsc")" && pwd)
(
    cd "$dir"
    sha256sum -c - <<SUMS
$DSC_SHA256  $DSC
$ORIG_SHA256  $ORIG
$DEBIAN_SHA256  $DEBIAN
SUMS
) >&2 || die "sha256 mismatch in $dir: not the pinned $DEB_VERSION"

dpkg-source --no-check --no-copy -x "$dir/$DSC" "$out" >/dev/null ||
    die "dpkg-source failed on $dir/$DSC"
rm -rf "$out/debian" "$out/.pc"
echo "QEMU $QEMU_VERSION (Debian $DEB_SOURCE $DEB_VERSION)" > "$out/.csd-base"
