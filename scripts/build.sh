#!/bin/bash
# Bring build/qemu up to date with the repository and build what the tests
# and the demo need.  Configures first on a fresh clone.
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ ! -f "$qemu/build/build.ninja" ]; then
    "$top/configure"
fi
"$top/scripts/assemble.sh"
link_firmware
# shellcheck disable=SC2086
ninja -C "$qemu/build" $NINJA_TARGETS
