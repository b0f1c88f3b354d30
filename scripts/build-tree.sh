#!/bin/bash
# Build the assembled tree again in TREE, configured with QEMU's configure
# options of build/qemu plus OPTIONS, and build TARGETS (default: those of
# make).  Used for the sanitizer and the fuzzing builds.
#
#   build-tree.sh TREE [OPTIONS...] [-- TARGETS...]
#
# The tree is a copy of build/qemu with our files copied rather than
# linked; only what changed is touched, so that the build is incremental.
set -euo pipefail
. "$(dirname "$0")/common.sh"

tree=${1:?usage: build-tree.sh TREE [OPTIONS...] [-- TARGETS...]}
shift
opts=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
done
[ $# -gt 0 ] && shift
targets=${*:-}

[ -f "$qemu/build/build.ninja" ] || "$top/configure"
"$top/scripts/assemble.sh"

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
want="$(cat "$build/qemu-configure.args") ${opts[*]}"
if [ ! -f "$tree/build/build.ninja" ] ||
        [ "$(cat "$tree/configure.args" 2>/dev/null)" != "$want" ]; then
    rm -rf "$tree/build"
    mkdir -p "$tree/build"
    # shellcheck disable=SC2046
    (cd "$tree/build" &&
     ../configure $(cat "$build/qemu-configure.args") "${opts[@]}") \
        > "$tree/configure.log" 2>&1 ||
        { tail -20 "$tree/configure.log" >&2;
          die "configure failed; see $tree/configure.log"; }
    echo "$want" > "$tree/configure.args"
fi
ninja -C "$tree/build" build.ninja > /dev/null
[ -n "$targets" ] || targets=$(ninja_targets "$tree/build")
# shellcheck disable=SC2086
ninja -C "$tree/build" $targets
link_firmware "$tree/build"
