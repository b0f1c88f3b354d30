# Shared by the scripts: paths and small helpers. Source it, don't run it.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$top/build
qemu=$build/qemu

# Directories whose files are ours, linked into the tree at the same paths.
OVERLAY_DIRS="hw include util tests/qtest tests/unit tests/bench contrib docs"

# Commits made by the scripts in the assembled tree need an identity; a
# fresh machine may have none configured.
if [ -z "$(git config user.name 2>/dev/null)" ]; then
    export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-csd-build}
    export GIT_COMMITTER_NAME=${GIT_COMMITTER_NAME:-csd-build}
fi
if [ -z "$(git config user.email 2>/dev/null)" ]; then
    export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-csd-build@localhost}
    export GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL:-csd-build@localhost}
fi

die() { echo "${0##*/}: $*" >&2; exit 1; }

# The patch files of patches/series, in order.
series_patches() {
    sed -e 's/#.*//' "$top/patches/series" | awk 'NF { print $1 }'
}

# Lines "patch newfile..." of patches/series.
series_lines() {
    sed -e 's/#.*//' "$top/patches/series" | awk 'NF'
}

# Identifies the upstream base and the patch queue applied to it.
queue_hash() {
    (cat "$build/src/.csd-base"
     for p in $(series_patches); do cat "$top/patches/$p"; done) |
        sha256sum | cut -d' ' -f1
}

# Our new files that patch file $1 changes.  A new file enters the series
# whole at the patch that patches/series names it with; a later patch may
# change it (a delta), so that a file can grow over several patches.  The
# repository holds each file as it is after the last of them: build/qemu
# applies the queue without the deltas, and the exported series starts
# each file from its state with the later deltas taken back.
patch_deltas() {
    local f d
    sed -n 's|^diff --git a/\(.*\) b/.*|\1|p' "$1" | sort -u |
        while read -r f; do
            for d in $OVERLAY_DIRS; do
                if [[ $f == "$d"/* ]] && [ -f "$top/$f" ]; then
                    echo "$f"
                fi
            done
        done
}

# Our new files, relative to the top (tracked or not yet added).
overlay_files() {
    # shellcheck disable=SC2086
    git -C "$top" ls-files -co --exclude-standard -- $OVERLAY_DIRS |
        while read -r f; do [ -f "$top/$f" ] && echo "$f"; done | sort -u
}

# Edits in the assembled tree that are not in patches/ yet.
tree_unsaved() {
    local g="git -C $qemu"
    [ -d "$qemu/.git" ] || return 1
    if [ -n "$($g status --porcelain 2>/dev/null)" ]; then
        return 0
    fi
    # Commits beyond the queue as last assembled (or, after a failed
    # assembly, beyond the pristine tree) are edits too.
    local last=queue
    $g rev-parse -q --verify queue >/dev/null || last=pristine
    [ "$($g rev-parse HEAD)" != "$($g rev-parse $last)" ]
}

# One compiler cache for the tree and the per-patch builds of the series.
export CCACHE_DIR=${CCACHE_DIR:-$build/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$build}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

# What "make" builds in the QEMU tree.
NINJA_TARGETS="qemu-system-x86_64 tests/qtest/qos-test tests/unit/test-bpf-vm
tests/bench/nvme-bpf-bench tests/qtest/nvme-bench"

# Those of NINJA_TARGETS the build directory $1 has (a tree configured
# without clang has no nvme-bpf-bench; an early patch of the series lacks
# the later targets).
ninja_targets() {
    local t
    for t in $NINJA_TARGETS; do
        if ninja -C "$1" -t query "$t" > /dev/null 2>&1; then
            echo "$t"
        fi
    done
}

# QEMU run from its build directory looks for firmware under qemu-bundle/,
# relocating the --firmwarepath directories there: point those at Debian's
# seabios, qemu-system-data and ipxe-qemu files.
link_firmware() {
    local dir=${1:-$qemu/build} d
    for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu; do
        if [ ! -e "$dir/qemu-bundle$d" ]; then
            mkdir -p "$(dirname "$dir/qemu-bundle$d")"
            ln -sfn "$d" "$dir/qemu-bundle$d"
        fi
    done
}

# Link the files of this repository into build/qemu, at their upstream
# paths, untracked and excluded from its git.
relink_overlay() {
    local excl=$qemu/.git/info/exclude old f
    # Remove the links of the previous run, then link the current set.
    if [ -f "$excl.csd" ]; then
        while read -r old; do
            [ -L "$qemu/$old" ] && rm -f "$qemu/$old"
        done < "$excl.csd"
    fi
    overlay_files > "$excl.csd.new"
    while read -r f; do
        if git -C "$qemu" cat-file -e "pristine:$f" 2>/dev/null; then
            die "$f exists upstream: change it with a patch, not a new file"
        fi
        mkdir -p "$(dirname "$qemu/$f")"
        ln -sfn "$top/$f" "$qemu/$f"
    done < "$excl.csd.new"
    mv "$excl.csd.new" "$excl.csd"
    { echo "# csd overlay links"; sed 's|^|/|' "$excl.csd"; } > "$excl"
}

# The guest kernels, oldest first: the Linux series Debian 12 packages, in
# bookworm (6.1) and in bookworm-backports (6.12).  scripts/build-guest.sh
# builds a guest for each; the newest is the default of the scripts that
# boot one.
GUEST_KERNELS="6.1 6.12"
guest_kernel_newest() {
    echo "${GUEST_KERNELS##* }"
}
# The kernel of a guest the scripts boot: $GUEST_KERNEL, or the newest
guest_kernel() {
    echo "${GUEST_KERNEL:-$(guest_kernel_newest)}"
}
