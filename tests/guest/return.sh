#!/bin/sh
# Over vfio-user, the second of two VMs of one server (after leave.sh): the
# data the first VM left is still there, the device works; then the server
# dies, and the Linux driver removes the controller without hanging.
# $1: the digests leave.sh printed, "NVM,SLM".

. "$(dirname "$0")"/ns.sh
. "$(dirname "$0")"/tap.sh

nvm_left() {
    dd if=$NVM bs=64k skip=32 count=4 2>/dev/null | sha256sum > /tmp/d &&
        [ "$(cut -c1-64 /tmp/d)" = "${1%,*}" ]
}

slm_left() {
    nvme-cs slm-read $CTRL -n 2 -o 4194304 -l 262144 -f /tmp/slm &&
        [ "$(sha256sum < /tmp/slm | cut -c1-64)" = "${1#*,}" ]
}

# two runs of 10 ms at once (the compute namespace has two engines) are
# done within 5 s
engines_free() {
    t0=$(cut -d' ' -f1 /proc/uptime | tr -d .)
    nvme-cs activate $CTRL -n 3 -s wait &&
        { nvme-cs exec $CTRL -n 3 -s wait --cparam1 10 > /tmp/w1 & } &&
        nvme-cs exec $CTRL -n 3 -s wait --cparam1 10 > /tmp/w2 && wait &&
        [ -s /tmp/w1 ] &&
        [ $(($(cut -d' ' -f1 /proc/uptime | tr -d .) - t0)) -lt 500 ]
}

# The server dies (the host kills it on seeing the line below); its client
# asks Linux to release the device (the VM has it in a hot-pluggable slot),
# and Linux removes the controller: a read then fails.  Without that
# (another slot), 6.1 would time the read out (after 5 s: the timeout of
# the namespace's path's request queue, nvme0c0nY's as the subsystem's
# namespaces have a multipath node) and remove the controller, 6.12 would
# keep the read queued.  Polls for 10 s for the read to fail, then 120 s
# for the removal.
removed() {
    for q in /sys/block/nvme0*/queue/io_timeout; do
        echo 5000 > "$q" || return 1
    done
    echo "CSD-GUEST: end the server" > /dev/console
    i=0
    while dd if=$NVM of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; do
        [ $i -lt 100 ] || return 1
        sleep 0.1
        i=$((i + 1))
    done
    i=0
    while [ -e $CTRL ] && [ $i -lt 1200 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ ! -e $CTRL ] && [ ! -e $NVM ] &&
        dmesg | grep nvme | tail -4 | sed "s/^/CSD-GUEST: /" > /dev/console
}

t "the NVM namespace holds what the previous VM wrote" nvm_left "$1"
t "SLM holds what the previous VM wrote" slm_left "$1"
t "programs run on both compute engines" engines_free
t "the server dies: Linux removes the controller, nothing hangs" removed
tap_end
