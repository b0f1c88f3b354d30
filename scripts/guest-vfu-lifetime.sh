#!/bin/bash
# The out-of-process device's lifetime with Linux guests: one vfio-user
# server (scripts/vfu-server.sh), VMs attached to it in turn.
#
#   1. A VM (tests/guest/leave.sh) writes to the NVM namespace and to SLM
#      and starts a long program (a 60 s wait, which the compute
#      namespace's 10 s budget would end with 8Ah); once the server runs
#      it, the VM is ended (SIGTERM, as when its user quits it).
#   2. The server stops that program at once: its completion, Command
#      Abort Requested (07h), is in the server's trace within 5 s.
#   3. A next VM (tests/guest/return.sh) finds the data, runs programs on
#      both compute engines; then the server is killed under it, and Linux
#      removes the controller without hanging.
#
# The guests run the kernel $GUEST_KERNEL, by default the newest.  Prints
# "ok - WHAT" or "not ok - WHAT" for each, with the guests' and the
# server's logs after a failure; exits non-zero if any failed.
set -uo pipefail
. "$(dirname "$0")/common.sh"

kernel=$(guest_kernel)
dir=$build/guest/$kernel/vfu-lifetime
log=$dir/server.log
failed=0

result() {
    if [ "$1" = 0 ]; then
        echo "ok - $2"
    else
        echo "not ok - $2"
        failed=1
        shift 2
        for f in "$@"; do
            tail -30 "$f" | sed "s|^|# ${f##*/}: |"
        done
    fi
}

# Poll FILE until it has a line matching PATTERN, for SECONDS at most, and
# while process PID (if given) runs.
wait_for() {
    local deadline=$((SECONDS + $3))
    until grep -aq "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        [ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || return 1
        sleep 0.1
    done
}

rm -rf "$dir"
"$top/scripts/vfu-server.sh" start "$dir" || exit 1
trap '"$top/scripts/vfu-server.sh" stop "$dir"' EXIT

# 1. cparam1 0xea60: the 60 s of leave.sh
"$top/scripts/run-guest.sh" --kernel="$kernel" --vfio-user="$dir" leave \
    > "$dir/leave.log" 2>&1 &
vm=$!
running=1
if wait_for "$log" 'pci_nvme_cp_exec .*cparam1 0xea60' 200 $vm; then
    kill -TERM "$(cat "$build/guest/$kernel/leave.pid")"
    running=0
fi
wait $vm
left=$(sed -n 's/^CSD-GUEST: left \([0-9a-f,]*\).*/\1/p' "$dir/leave.log" |
       tr -d '\r')
[ $running = 0 ] && [ -n "$left" ] &&
    ! grep -aq 'was not ended' "$dir/leave.log"
result $? "a VM leaves data and quits while its program runs" \
    "$dir/leave.log" "$log"

# 2.
wait_for "$log" 'pci_nvme_cp_exec_done .* status 0x7 ' 5
result $? "the server stops the program of the VM that quit" \
    "$log"

# 3.
"$top/scripts/run-guest.sh" --kernel="$kernel" --vfio-user="$dir" return \
    "$left" \
    > "$dir/return.log" 2>&1 &
vm=$!
if wait_for "$dir/return.log" 'CSD-GUEST: end the server' 200 $vm; then
    kill -KILL "$(cat "$dir/server.pid")"
fi
wait $vm
result $? "the next VM finds the data; the server dies and Linux removes the controller ($(
    grep -a 'passed, .* failed' "$dir/return.log" | tr -d '\r'))" \
    "$dir/return.log" "$log"

exit $failed
