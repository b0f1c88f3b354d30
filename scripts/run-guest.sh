#!/bin/bash
# Boot a guest of build/guest with the computational storage device and
# run a scenario of tests/guest in it; its output is the serial console.
#
#   run-guest.sh [--kvm] [--kernel=K] [--vfio-user[=DIR]] SCENARIO [ARG]
#
# The device: -device nvme,serial=csd0,drive=nvm0,compute=on,slm.size=64M,
# slm.bar=on on a fresh 64 MiB image (namespace 1 NVM, 2 memory, 3
# compute; the SLM in BAR 4, which the guest maps: iomem=relaxed).  With
# --vfio-user the same device runs out of process instead, in a server of
# scripts/vfu-server.sh attached with -device vfio-user-pci behind a
# pcie-root-port (hot-pluggable: if the server dies, the guest is asked to
# release the device): the server running in DIR, or one started for this
# guest alone.  TCG by default (KVM
# is opt-in: nested KVM on some hosts hangs standard guests).  ARG reaches
# the scenario as $1 (csd.arg= on the kernel command line).  K is a kernel
# of GUEST_KERNELS (scripts/common.sh: 6.1, 6.12), by default $GUEST_KERNEL
# or else the newest.  In build/guest/K: the console in SCENARIO.log (or
# SCENARIO-vfio-user.log), QEMU's pid in SCENARIO.pid while it runs.
# Exits with the scenario's status; fails if the guest does not get there
# within GUEST_TIMEOUT seconds (default 300).
set -euo pipefail
. "$(dirname "$0")/common.sh"

accel=tcg
kernel=$(guest_kernel)
vfu=
vfu_dir=
while [ $# -gt 0 ]; do
    case $1 in
    --kvm) accel=kvm ;;
    --kernel=*) kernel=${1#--kernel=} ;;
    --vfio-user) vfu=1 ;;
    --vfio-user=*) vfu=1; vfu_dir=${1#--vfio-user=} ;;
    *) break ;;
    esac
    shift
done
scenario=${1:?usage: run-guest.sh [--kvm] [--kernel=K] [--vfio-user[=DIR]] SCENARIO [ARG]}
arg=${2:-}
[ -f "$top/tests/guest/$scenario.sh" ] || die "no tests/guest/$scenario.sh"

guest=$build/guest
"$top/scripts/build-guest.sh" "$kernel" > "$build/guest-build.log" 2>&1 ||
    { cat "$build/guest-build.log" >&2; die "building the guest failed"; }

mem=512M
if [ -n "$vfu" ]; then
    if [ -z "$vfu_dir" ]; then
        vfu_dir=$guest/$kernel/vfu-$scenario
        rm -rf "$vfu_dir"
        "$top/scripts/vfu-server.sh" start "$vfu_dir"
        trap '"$top/scripts/vfu-server.sh" stop "$vfu_dir"' EXIT
    fi
    [ -S "$vfu_dir/csd0.sock" ] || die "no vfio-user server in $vfu_dir"
    # the server reads and writes guest memory: it must be shared
    device=(-object "memory-backend-memfd,id=mem,size=$mem,share=on"
            -machine memory-backend=mem
            -device pcie-root-port,id=rp0,chassis=1
            -device "{\"driver\": \"vfio-user-pci\", \"bus\": \"rp0\", \"socket\": {\"type\": \"unix\", \"path\": \"$vfu_dir/csd0.sock\"}}")
    log=$guest/$kernel/$scenario-vfio-user.log
else
    img=$guest/$kernel/nvm.img
    rm -f "$img"
    truncate -s 64M "$img"
    device=(-drive "file=$img,if=none,id=nvm0,format=raw"
            -device nvme,serial=csd0,drive=nvm0,compute=on,slm.size=64M,slm.bar=on)
    log=$guest/$kernel/$scenario.log
fi

start=$(date +%s.%N)
set +e
timeout "${GUEST_TIMEOUT:-300}" "$qemu/build/qemu-system-x86_64" \
    -machine q35 -accel "$accel" -m "$mem" -smp 1 \
    -nodefaults -display none -no-reboot -serial stdio \
    -pidfile "$guest/$kernel/$scenario.pid" \
    -kernel "$guest/$kernel/vmlinuz" -initrd "$guest/$kernel/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet iomem=relaxed csd.scenario=$scenario csd.arg=$arg" \
    "${device[@]}" < /dev/null | tee "$log"
set -e
end=$(date +%s.%N)

rc=$(sed -n 's/^CSD-GUEST: exit \([0-9]*\).*/\1/p' "$log" | tr -d '\r')
awk -v s="$start" -v e="$end" -v n="$scenario" \
    'BEGIN { printf "guest: %s finished in %.1f s (QEMU start to power off)\n", n, e - s }'
[ -n "$rc" ] || die "the guest did not finish the scenario"
exit "$rc"
