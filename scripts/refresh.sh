#!/bin/bash
# Write the edits made to upstream files in build/qemu back into patches/.
#
# Each commit after the pristine tree becomes one patch, in order.  Edits
# not committed yet are first folded into the last patch, or become a new
# patch with --new "subject: what it does".
set -euo pipefail
. "$(dirname "$0")/common.sh"

new=
if [ "${1:-}" = --new ]; then
    new=${2:?--new needs a commit subject}
fi

g() { git -C "$qemu" "$@"; }
[ -d "$qemu/.git" ] || die "no build/qemu; run ./configure"

if [ -n "$(g status --porcelain --untracked-files=no)" ]; then
    if [ -n "$new" ]; then
        g commit -q -a -m "$new"
    elif [ "$(g rev-parse HEAD)" != "$(g rev-parse pristine)" ]; then
        g commit -q -a --amend --no-edit
    else
        die "no patch to fold the edits into: make refresh NEW='subject'"
    fi
fi
relink_overlay
untracked=$(g status --porcelain | sed -n 's/^?? //p')
if [ -n "$untracked" ]; then
    echo "$untracked" >&2
    die "new files belong in the repository (hw/, include/, tests/, docs/)," \
        "not in build/qemu"
fi

# Keep the new-file columns of patches/series: a patch keeps its files while
# its subject stays the same (its number may change).
old=$(mktemp)
# The changes a patch makes to our new files (patch_deltas) are not in
# build/qemu's commits: the patch keeps them, likewise by subject.
deltas=$(mktemp -d)
trap 'rm -rf "$old" "$deltas"' EXIT
series_lines > "$old"
for f in "$top"/patches/*.patch; do
    [ -f "$f" ] || continue
    ours=$(patch_deltas "$f" | tr '\n' ' ')
    [ -n "$ours" ] || continue
    p=${f##*/}
    awk -v ours="$ours" '
        BEGIN { n = split(ours, a, " "); for (i = 1; i <= n; i++) is[a[i]] = 1 }
        /^diff --git a\// { keep = (substr($3, 3) in is) }
        keep' "$f" > "$deltas/${p#[0-9][0-9][0-9][0-9]-}"
done
rm -f "$top"/patches/*.patch
# --always: a commit that changes only our new files is empty in build/qemu
g format-patch -q --always --no-signature --zero-commit --no-numbered \
    -o "$top/patches" pristine..HEAD
for f in "$top"/patches/*.patch; do
    p=${f##*/}
    d=$deltas/${p#[0-9][0-9][0-9][0-9]-}
    if [ -f "$d" ]; then
        cat "$d" >> "$f"
    fi
done
{
    sed -n '/^#/p' "$top/patches/series"
    for f in "$top"/patches/*.patch; do
        [ -f "$f" ] || continue
        p=${f##*/}
        files=$(awk -v p="${p#[0-9][0-9][0-9][0-9]-}" '
            { name = $1; sub(/^[0-9][0-9][0-9][0-9]-/, "", name) }
            name == p { $1 = ""; print }' "$old")
        echo "$p${files}"
    done
} > "$top/patches/series.new"
mv "$top/patches/series.new" "$top/patches/series"
g tag -f queue >/dev/null
# The tree now matches patches/: record that, so that assembling again has
# nothing to redo.
queue_hash > "$qemu/.git/csd-stamp"
git -C "$top" status --short -- patches
