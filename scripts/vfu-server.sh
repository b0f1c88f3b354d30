#!/bin/bash
# The guest's computational storage device out of process: a QEMU x-remote
# machine serving it over vfio-user, for scripts/run-guest.sh --vfio-user.
#
#   vfu-server.sh start DIR   start a server on DIR/csd0.sock (the NVM image
#                             DIR/nvm.img, made if missing; its log
#                             DIR/server.log) and wait until it listens
#   vfu-server.sh stop DIR    end it
#
# The device equals run-guest.sh's in-process one (namespace 1 NVM, 2
# memory, 3 compute, a 64 MiB SLM in BAR 4), with the SLM on a memory-backend-memfd
# as a device shared with other processes would have it.  The server
# outlives its clients (auto-shutdown=off): each VM that attaches finds the
# contents the previous one left.  Its Execute Program commands and their
# completions are traced to the log (pci_nvme_cp_exec*), so that tests can
# see what became of a program when its VM went away.
set -euo pipefail
. "$(dirname "$0")/common.sh"

cmd=${1:?usage: vfu-server.sh start|stop DIR}
dir=${2:?usage: vfu-server.sh start|stop DIR}
sock=$dir/csd0.sock
pidfile=$dir/server.pid

case $cmd in
start)
    mkdir -p "$dir"
    [ -f "$dir/nvm.img" ] || truncate -s 64M "$dir/nvm.img"
    rm -f "$sock"
    "$qemu/build/qemu-system-x86_64" \
        -machine x-remote,vfio-user=on,auto-shutdown=off \
        -nodefaults -display none -monitor none -serial none \
        -trace 'pci_nvme_cp_exec*' \
        -object memory-backend-memfd,id=slm0,size=64M,share=on \
        -device nvme-subsys,id=subsys0,nqn=csd0,slm=slm0,slm.bar=on \
        -drive "file=$dir/nvm.img,if=none,id=nvm0,format=raw" \
        -device nvme,id=csd0,serial=csd0,subsys=subsys0,compute=on,compute.nsid=3 \
        -device nvme-ns,bus=csd0,drive=nvm0,nsid=1 \
        -device nvme-mem-ns,bus=csd0,nsid=2 \
        -object "x-vfio-user-server,id=vfu0,type=unix,path=$sock,device=csd0" \
        > "$dir/server.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    for _ in $(seq 100); do
        [ -S "$sock" ] && exit 0
        kill -0 "$(cat "$pidfile")" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/server.log" >&2
    die "the vfio-user server did not start"
    ;;
stop)
    if [ -f "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    ;;
*)
    die "usage: vfu-server.sh start|stop DIR"
    ;;
esac
