#!/bin/bash
# Export the work as a git format-patch series against upstream, and check it.
#
#   series.sh export       write build/series/*.patch: each patch of the queue
#                          together with the new files patches/series gives it;
#                          then apply the result to a pristine tree with git am
#   series.sh checkpatch   run QEMU's scripts/checkpatch.pl on build/series
#   series.sh build-each   build the applied series at every patch
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=$build/series
tree=$build/series-tree

g() { git -C "$tree" "$@"; }

# Every new file must be added by exactly one patch of the series.
check_files() {
    local listed
    listed=$(series_lines | awk '{ for (i = 2; i <= NF; i++) print $i }' |
             sort)
    local dup missing extra
    dup=$(uniq -d <<<"$listed")
    [ -z "$dup" ] || die "patches/series lists these files twice: $dup"
    missing=$(comm -23 <(overlay_files) <(uniq <<<"$listed"))
    [ -z "$missing" ] ||
        die "no patch in patches/series adds these new files:" $missing
    extra=$(comm -13 <(overlay_files) <(uniq <<<"$listed"))
    [ -z "$extra" ] ||
        die "patches/series names files the repository lacks:" $extra
}

# Our new files as the patch that adds them has them, in $1: each file as
# it is, with the changes later patches make to it (patch_deltas) taken
# back, the last first.
initial_versions() {
    local dir=$1 p f
    for p in $(series_patches | tac); do
        while read -r f; do
            if [ ! -f "$dir/$f" ]; then
                mkdir -p "$(dirname "$dir/$f")"
                cp "$top/$f" "$dir/$f"
            fi
            (cd "$dir" && git apply -R --include="$f" "$top/patches/$p") ||
                die "patches/$p: its change to $f does not undo on $f as" \
                    "it is; make the patch's change to $f match the file"
        done < <(patch_deltas "$top/patches/$p")
    done
}

fresh_tree() {
    rm -rf "$tree"
    git clone -q --no-checkout "$qemu" "$tree"
    g checkout -q -b series pristine
}

export_series() {
    local p f src
    [ -f "$build/src/.csd-base" ] || "$top/configure"
    "$top/scripts/assemble.sh"
    check_files
    # outside any git work tree, for git apply
    initial=$(mktemp -d /tmp/csd-initial.XXXXXX)
    trap 'rm -rf "$initial"' EXIT
    initial_versions "$initial"
    fresh_tree
    while read -r p files; do
        g am -q --keep-cr "$top/patches/$p" ||
            die "patches/$p does not apply"
        for f in $files; do
            mkdir -p "$(dirname "$tree/$f")"
            src=$top/$f
            [ -f "$initial/$f" ] && src=$initial/$f
            cp "$src" "$tree/$f"
            g add -f "$f"
        done
        if [ -n "$files" ]; then
            g commit -q --amend --no-edit
        fi
    done < <(series_lines)
    while read -r f; do
        cmp -s "$top/$f" "$tree/$f" ||
            die "$f at the end of the series differs from the repository's"
    done < <(overlay_files)
    rm -rf "$out"
    g format-patch -q --no-signature -o "$out" pristine..series
    echo "wrote $(ls "$out" | wc -l) patches to build/series"

    # The exported files alone must apply to the pristine tree.
    fresh_tree
    g am -q "$out"/*.patch || die "build/series does not apply with git am"
    echo "build/series applies to pristine QEMU with git am"
}

checkpatch() {
    [ -d "$out" ] || die "no build/series; run make series"
    "$qemu/scripts/checkpatch.pl" --no-signoff "$out"/*.patch
}

build_each() {
    local c n=0 total targets
    [ -d "$tree/.git" ] || die "no build/series-tree; run make series"
    total=$(g rev-list --count pristine..HEAD)
    mkdir -p "$tree/build"
    if [ ! -f "$tree/build/build.ninja" ]; then
        # shellcheck disable=SC2046
        (cd "$tree/build" &&
         ../configure $(cat "$build/qemu-configure.args")) \
            > "$build/series-configure.log" 2>&1 ||
            die "configure failed; see build/series-configure.log"
    fi
    for c in $(g rev-list --reverse pristine..HEAD); do
        n=$((n + 1))
        g checkout -q "$c"
        echo "building patch $n/$total: $(g log -1 --format=%s)"
        # Regenerate build.ninja, then build the targets this patch has.
        ninja -C "$tree/build" build.ninja > "$build/series-build.log" 2>&1 &&
            targets=$(ninja_targets "$tree/build") &&
            # shellcheck disable=SC2086
            ninja -C "$tree/build" $targets >> "$build/series-build.log" \
                2>&1 || { tail -30 "$build/series-build.log" >&2;
                          die "patch $n/$total does not build"; }
    done
    echo "each of the $total patches builds"
}

case ${1:-export} in
export) export_series ;;
checkpatch) checkpatch ;;
build-each) build_each ;;
*) die "usage: series.sh export|checkpatch|build-each" ;;
esac
