#!/bin/bash
# Assemble build/qemu: the pristine upstream tree as a first commit (tag
# "pristine"), one commit per patch of patches/series (tag "queue"), and our
# new files linked in at their upstream paths (untracked, excluded).
#
# Re-running it after patches/ changed resets the tree to the pristine commit
# and applies the queue again, keeping QEMU's build directory.  It refuses to
# do so when the tree holds edits that "make refresh" has not written back,
# unless --force is given.
set -euo pipefail
. "$(dirname "$0")/common.sh"

force=
[ "${1:-}" = --force ] && force=1
src=$build/src
[ -f "$src/.csd-base" ] || die "no upstream source in $src; run ./configure"

stamp=$qemu/.git/csd-stamp
want=$(queue_hash)

g() { git -C "$qemu" "$@"; }


if [ -d "$qemu/.git" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    relink_overlay
    exit 0
fi

if [ -d "$qemu/.git" ] && [ -z "$force" ] && tree_unsaved; then
    g status --short | head -20 >&2
    die "build/qemu has edits that are not in patches/: run 'make refresh'" \
        "to keep them, or ./configure --force to discard them"
fi

base=$(cat "$src/.csd-base")
if [ ! -d "$qemu/.git" ] ||
        [ "$(g log -1 --format=%s pristine 2>/dev/null)" != "$base" ]; then
    echo "assembling build/qemu from $base"
    rm -rf "$qemu"
    cp -a "$src" "$qemu"
    rm -f "$qemu/.csd-base"
    g init -q -b csd
    g config core.autocrlf false
    g add -A -f .
    g commit -q --no-verify -m "$base"
    g tag pristine
else
    g am --abort >/dev/null 2>&1 || true
    g reset -q --hard pristine
fi

for p in $(series_patches); do
    # our new files are linked in as they are, whatever a patch does to them
    excl=()
    while read -r f; do
        excl+=("--exclude=$f")
    done < <(patch_deltas "$top/patches/$p")
    if ! g am -q --keep-cr "${excl[@]}" "$top/patches/$p"; then
        g am --abort || true
        die "patches/$p does not apply"
    fi
done
g tag -f queue >/dev/null
relink_overlay
echo "$want" > "$stamp"
