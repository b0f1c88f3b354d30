#!/bin/bash
# Build pristine upstream QEMU (the "pristine" tag of build/qemu, without
# the patch queue) in build/pristine, configured exactly as build/qemu, for
# the benchmarks to compare against.  Built once; run again, it only
# rebuilds what changed (nothing, unless the upstream source or the
# configure options did).
set -euo pipefail
. "$(dirname "$0")/common.sh"

src=$build/pristine
want="$(git -C "$qemu" rev-parse pristine) $(cat "$build/qemu-configure.args")"

if [ "$(cat "$src/.csd-pristine" 2>/dev/null)" != "$want" ]; then
    rm -rf "$src"
    mkdir -p "$src/build"
    git -C "$qemu" archive pristine | tar -x -C "$src"
    # shellcheck disable=SC2046
    (cd "$src/build" && ../configure $(cat "$build/qemu-configure.args")) \
        > "$build/pristine-configure.log" 2>&1 ||
        { tail -30 "$build/pristine-configure.log" >&2;
          die "configure failed; see build/pristine-configure.log"; }
    echo "$want" > "$src/.csd-pristine"
fi
link_firmware "$src/build"
echo "building pristine QEMU $(cat "$build/src/.csd-base") in build/pristine"
ninja -C "$src/build" qemu-system-x86_64 > "$build/pristine-build.log" 2>&1 ||
    { tail -30 "$build/pristine-build.log" >&2;
      die "the pristine build failed; see build/pristine-build.log"; }
