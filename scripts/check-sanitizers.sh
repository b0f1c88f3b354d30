#!/bin/bash
# Build the assembled tree again with AddressSanitizer and UBSan, in
# build/asan-tree, and run the NVMe qtests against that build.
set -euo pipefail
. "$(dirname "$0")/common.sh"

tree=$build/asan-tree
[ -f "$qemu/build/build.ninja" ] || "$top/configure"
"$top/scripts/assemble.sh"

# The tree as assembled, with our files copied rather than linked; only
# what changed is touched, so that the build is incremental.
if [ -d "$tree/.git" ]; then
    git -C "$tree" fetch -q "$qemu" HEAD
    git -C "$tree" reset -q --hard FETCH_HEAD
else
    git clone -q "$qemu" "$tree"
fi
while read -r f; do
    if ! cmp -s "$top/$f" "$tree/$f"; then
        mkdir -p "$(dirname "$tree/$f")"
        cp "$top/$f" "$tree/$f"
    fi
done < <(overlay_files)

mkdir -p "$tree/build"
if [ ! -f "$tree/build/build.ninja" ]; then
    # shellcheck disable=SC2046
    (cd "$tree/build" &&
     ../configure $(cat "$build/qemu-configure.args") --enable-asan \
         --enable-ubsan) > "$build/asan-configure.log" 2>&1 ||
        die "configure failed; see build/asan-configure.log"
fi
# shellcheck disable=SC2086
ninja -C "$tree/build" $NINJA_TARGETS
link_firmware "$tree/build"

# QEMU leaks at exit by design; UBSan findings stop it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
QEMU_BUILD=$tree/build exec "$top/scripts/run-tests.sh" "$@"
