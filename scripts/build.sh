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
# Regenerate build.ninja first: which targets exist may have changed.
ninja -C "$qemu/build" build.ninja > /dev/null
# shellcheck disable=SC2046
ninja -C "$qemu/build" $(ninja_targets "$qemu/build")
