#!/bin/bash
# make run: boot a Linux guest (Debian's kernel, under TCG) with the
# computational storage device and run the narrated demo of
# tests/guest/demo.sh in it.  Builds what is missing first (make does QEMU;
# the guest is built from Debian packages on first use).
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -x "$qemu/build/qemu-system-x86_64" ] || die "not built; run make"
cat <<'TXT'
Booting a Linux guest with an NVMe controller that has an NVM namespace
(1), a subsystem local memory namespace (2) and a compute namespace (3):

  qemu-system-x86_64 -machine q35 -accel tcg -m 512M -kernel vmlinuz ...
    -drive file=nvm.img,if=none,id=nvm0,format=raw
    -device nvme,serial=csd0,drive=nvm0,compute=on,slm.size=64M

The guest runs tests/guest/demo.sh with nvme-cli and nvme-cs.
TXT
exec "$top/scripts/run-guest.sh" "$@" demo 2>&1 |
    grep --line-buffered -v '^\[ *[0-9.]*\]'
