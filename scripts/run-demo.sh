#!/bin/bash
# make run: boot a Linux guest (Debian 12's newest kernel, under TCG) with
# the computational storage device and run the narrated demo of
# tests/guest/demo.sh in it.  Builds what is missing first (make does QEMU;
# the guest is built from Debian packages on first use).
#
#   run-demo.sh [--vfio-user] [--kernel=K]
#       --vfio-user (make run VFIO_USER=1): the device out of process,
#       served over vfio-user; --kernel=K (make run KERNEL=K): the guest
#       kernel, one of GUEST_KERNELS (6.1, 6.12; default the newest)
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -x "$qemu/build/qemu-system-x86_64" ] || die "not built; run make"
vfu=
kernel=$(guest_kernel_newest)
for a in "$@"; do
    case $a in
    --vfio-user) vfu=1 ;;
    --kernel=*) kernel=${a#--kernel=} ;;
    *) die "usage: run-demo.sh [--vfio-user] [--kernel=K]" ;;
    esac
done
if [ -n "$vfu" ]; then
    cat <<'TXT'
Serving an NVMe controller with an NVM namespace (1), a subsystem local
memory namespace (2) and a compute namespace (3) from a QEMU process of its
own, and booting a Linux guest attached to it over vfio-user:

  qemu-system-x86_64 -machine x-remote,vfio-user=on,auto-shutdown=off ...
    -object memory-backend-memfd,id=slm0,size=64M,share=on
    -device nvme-subsys,id=subsys0,nqn=csd0,slm=slm0,slm.bar=on
    -device nvme,id=csd0,serial=csd0,subsys=subsys0,compute=on,compute.nsid=3
    -device nvme-ns,bus=csd0,drive=nvm0,nsid=1
    -device nvme-mem-ns,bus=csd0,nsid=2
    -object x-vfio-user-server,id=vfu0,type=unix,path=csd0.sock,device=csd0

  qemu-system-x86_64 -machine q35,memory-backend=mem -accel tcg -m 512M ...
    -object memory-backend-memfd,id=mem,size=512M,share=on
    -device pcie-root-port,id=rp0,chassis=1
    -device '{"driver": "vfio-user-pci", "bus": "rp0", "socket": {"type": "unix", "path": "csd0.sock"}}'
TXT
else
    cat <<'TXT'
Booting a Linux guest with an NVMe controller that has an NVM namespace
(1), a subsystem local memory namespace (2) and a compute namespace (3):

  qemu-system-x86_64 -machine q35 -accel tcg -m 512M -kernel vmlinuz ...
    -drive file=nvm.img,if=none,id=nvm0,format=raw
    -device nvme,serial=csd0,drive=nvm0,compute=on,slm.size=64M,slm.bar=on
TXT
fi
cat <<TXT

The guest (Debian's Linux $kernel) runs tests/guest/demo.sh with nvme-cli
and nvme-cs.
TXT
"$top/scripts/run-guest.sh" --kernel="$kernel" ${vfu:+--vfio-user} demo 2>&1 |
    grep --line-buffered -v '^\[ *[0-9.]*\]'
