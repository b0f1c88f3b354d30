#!/bin/bash
# Boot the guest of build/guest with the computational storage device and
# run a scenario of tests/guest in it; its output is the serial console.
#
#   run-guest.sh [--kvm] SCENARIO
#
# The device: -device nvme,serial=csd0,drive=nvm0,compute=on,slm.size=64M
# on a fresh 64 MiB image (namespace 1 NVM, 2 memory, 3 compute).  TCG by
# default (KVM is opt-in: nested KVM on some hosts hangs standard guests).
# Exits with the scenario's status; fails if the guest does not get there
# within GUEST_TIMEOUT seconds (default 300).
set -euo pipefail
. "$(dirname "$0")/common.sh"

accel=tcg
if [ "${1:-}" = --kvm ]; then
    accel=kvm
    shift
fi
scenario=${1:?usage: run-guest.sh [--kvm] SCENARIO}
[ -f "$top/tests/guest/$scenario.sh" ] || die "no tests/guest/$scenario.sh"

guest=$build/guest
"$top/scripts/build-guest.sh" > "$build/guest-build.log" 2>&1 ||
    { cat "$build/guest-build.log" >&2; die "building the guest failed"; }

img=$guest/nvm.img
rm -f "$img"
truncate -s 64M "$img"
log=$guest/$scenario.log

start=$(date +%s.%N)
set +e
timeout "${GUEST_TIMEOUT:-300}" "$qemu/build/qemu-system-x86_64" \
    -machine q35 -accel "$accel" -m 512M -smp 1 \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel "$guest/vmlinuz" -initrd "$guest/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet csd.scenario=$scenario" \
    -drive "file=$img,if=none,id=nvm0,format=raw" \
    -device nvme,serial=csd0,drive=nvm0,compute=on,slm.size=64M \
    < /dev/null | tee "$log"
set -e
end=$(date +%s.%N)

rc=$(sed -n 's/^CSD-GUEST: exit \([0-9]*\).*/\1/p' "$log" | tr -d '\r')
awk -v s="$start" -v e="$end" -v n="$scenario" \
    'BEGIN { printf "guest: %s finished in %.1f s (QEMU start to power off)\n", n, e - s }' 
[ -n "$rc" ] || die "the guest did not finish the scenario"
exit "$rc"
