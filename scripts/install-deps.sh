#!/bin/sh
# Install what building, testing and benchmarking (gnuplot) the series needs
# on Debian 12 (bookworm).
# Idempotent: packages already present are not fetched again.
set -eu

BUILD_PKGS="build-essential git pkg-config python3 python3-venv flex bison
ninja-build libglib2.0-dev libpixman-1-dev libslirp-dev libfdt-dev
libjson-c-dev libcmocka-dev zlib1g-dev dpkg-dev xz-utils ca-certificates ccache
seabios qemu-system-data ipxe-qemu clang kmod
gnuplot-nox"
BACKPORT_PKGS="meson python3-pycotap"

SUDO=
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi

missing() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q 'install ok installed' || echo "$p"
    done
}

meson_ok() {
    command -v meson >/dev/null 2>&1 &&
        dpkg --compare-versions "$(meson --version)" ge 1.5
}

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

# QEMU 10.2 needs meson >= 1.5; bookworm has it in backports only.
need_bpo=
if [ "$codename" = bookworm ]; then
    if ! meson_ok || [ -n "$(missing python3-pycotap)" ]; then
        need_bpo=1
    fi
fi

# shellcheck disable=SC2086
todo=$(missing $BUILD_PKGS)
if [ -z "$todo" ] && [ -z "$need_bpo" ] && meson_ok; then
    exit 0
fi

if [ -n "$need_bpo" ]; then
    list=/etc/apt/sources.list.d/csd-bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list \
            /etc/apt/sources.list.d/; then
        # Reuse the archive URI the machine is already configured with.
        uri=$("$(dirname "$0")/debian-uri.sh")
        $SUDO sh -c "cat > $list" <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $BUILD_PKGS
if [ "$codename" = bookworm ]; then
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends \
        -t bookworm-backports $BACKPORT_PKGS
else
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $BACKPORT_PKGS
fi
meson_ok || { echo "install-deps: meson >= 1.5 is required" >&2; exit 1; }
