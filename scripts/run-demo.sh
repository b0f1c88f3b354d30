#!/bin/bash
# Start qemu-system-x86_64 with an NVMe controller, an NVM namespace and a
# subsystem local memory with a memory namespace, show them through the
# monitor (info pci, info qtree, info block) and quit.
set -euo pipefail
. "$(dirname "$0")/common.sh"

bin=$qemu/build/qemu-system-x86_64
[ -x "$bin" ] || die "not built; run make"
img=$build/demo-nvm0.img
[ -f "$img" ] || truncate -s 64M "$img"

args=(-machine q35 -accel tcg -nodefaults -display none -S
      -drive "id=nvm0,if=none,file=$img,format=raw"
      -device nvme,id=nvme0,serial=csd0,slm=on,slm.size=16M,slm.nsid=2
      -device nvme-ns,id=ns1,bus=nvme0,nsid=1,drive=nvm0
      -monitor stdio)
echo "\$ qemu-system-x86_64 ${args[*]}"
# The monitor echoes what it reads; keep only what it prints.
out=$(printf 'info pci\ninfo qtree\ninfo block\nquit\n' | "$bin" "${args[@]}" 2>&1 |
      grep -v '^(qemu)\|^QEMU .* monitor')

echo
echo "(qemu) info pci    # the NVMe controller, PCI id 1b36:0010"
awk '/^  Bus/ { blk = $0; next }
     { blk = blk "\n" $0 }
     /^      id "nvme0"/ { print blk }' <<<"$out"

echo
echo "(qemu) info qtree  # the controller (class 0108: NVM Express) and its SLM"
awk '/dev: nvme, id "nvme0"/ { on = 1; ind = match($0, /[^ ]/) }
     on && /^ *(dev|bus):/ && match($0, /[^ ]/) <= ind && !/nvme0/ { on = 0 }
     on && /dev:|bus:|type |serial|class |mdts|slm/' <<<"$out"

echo
echo "(qemu) info block  # namespace 1 (device ns1) and its image"
awk '/^nvm0 / { on = 1 } on && /^$/ { on = 0 } on' <<<"$out"
