#!/bin/bash
# Run every test of the project and print "N passed, N failed".
#
# Each qtest runs in its own process so that one failure cannot hide the
# others; the series is exported, applied to pristine QEMU and checked with
# checkpatch.  Exits non-zero if anything failed.
#
#   run-tests.sh [PATTERN]    only the qtests whose path contains PATTERN
#
# QEMU_BUILD=DIR runs the qtests of another build of the tree (for example
# the sanitizer build of scripts/check-sanitizers.sh) and skips the series.
set -uo pipefail
. "$(dirname "$0")/common.sh"

pattern=${1:-}
# a run against another build keeps its logs there
logs=$build/test-logs
[ -z "${QEMU_BUILD:-}" ] || logs=$QEMU_BUILD/test-logs
rm -rf "$logs"
mkdir -p "$logs"
passed=0 failed=0 n=0

result() {
    local ok=$1 name=$2 log=$3
    n=$((n + 1))
    if [ "$ok" = 0 ]; then
        passed=$((passed + 1))
        echo "ok $n - $name"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name"
        sed 's/^/# /' "$log" | tail -40
    fi
}

qbuild=${QEMU_BUILD:-$qemu/build}
export QTEST_QEMU_BINARY=$qbuild/qemu-system-x86_64
qos=$qbuild/tests/qtest/qos-test
[ -x "$QTEST_QEMU_BINARY" ] && [ -x "$qos" ] || die "not built; run make"

# The NVMe qtests of every machine the qos graph offers.
mapfile -t paths < <("$qos" -l | grep '/nvme/' | grep -F -- "$pattern")
[ "${#paths[@]}" -gt 0 ] || [[ unit/test-bpf-vm == *"$pattern"* ]] ||
    [[ guest/e2e == *"$pattern"* ]] || [[ fuzz/bpf == *"$pattern"* ]] ||
    die "no test matches '$pattern'"
# Tests that exist only if the build could make them: without them, fail.
#   require PATH-PART NAME WHY-MISSING
require() {
    local log=$logs/require-$n.log
    echo "$3" > "$log"
    printf '%s\n' "${paths[@]}" | grep -q -- "$1"
    result $? "$2" "$log"
}

if [ -z "$pattern" ]; then
    require /cp/jit/bpf- \
        "qtest: the eBPF programs of tests/qtest/nvme-bpf were built" \
        "no eBPF qtests: clang was not found when QEMU was configured"
    require /cp/interp/bpf- \
        "qtest: the eBPF program tests also run on the interpreter" \
        "no cp/interp/ qtests"
    require /vfio-user/nvme/ "qtest: the suites also run over vfio-user" \
        "no vfio-user qtests: QEMU lacks x-remote or vfio-user-pci"
fi

for p in "${paths[@]}"; do
    log=$logs/$n.log
    timeout 300 "$qos" --tap -p "$p" > "$log" 2>&1
    rc=$?
    # A run that executed no test is a failure too, and so is a sanitizer
    # report that did not stop QEMU.
    if [ $rc = 0 ] && { ! grep -q '^ok ' "$log" ||
                        grep -q 'runtime error:\|ERROR: AddressSanitizer' \
                            "$log"; }; then
        rc=1
    fi
    result $rc "qtest $p" "$log"
done

# The unit tests of the eBPF machine, with the bpf_conformance vectors of
# shared/ beside the repository (or BPF_VM_CONFORMANCE).
if [ -z "$pattern" ] || [[ unit/test-bpf-vm == *"$pattern"* ]]; then
    log=$logs/unit-bpf.log
    conf=${BPF_VM_CONFORMANCE:-$top/../shared/conformance/bpf}
    if [ -d "$conf/tests" ]; then
        BPF_VM_CONFORMANCE=$conf "$qbuild/tests/unit/test-bpf-vm" \
            --tap > "$log" 2>&1 && ! grep -q '^not ok' "$log"
        rc=$?
    else
        echo "no conformance vectors at $conf" > "$log"
        rc=1
    fi
    result $rc "unit tests/unit/test-bpf-vm: $(grep -c '^ok ' "$log") cases; $(
        sed -n 's/^# conformance //p' "$log" | tr "\n" " ")" "$log"
fi

# A short fuzzing run of the eBPF machine (make fuzz runs longer ones)
if [ -z "${QEMU_BUILD:-}" ] &&
   { [ -z "$pattern" ] || [[ fuzz/bpf == *"$pattern"* ]]; }; then
    log=$logs/fuzz-bpf.log
    "$top/scripts/fuzz.sh" bpf "${FUZZ_SECONDS:-30}" > "$log" 2>&1
    result $? "$(tail -1 "$log")" "$log"
fi

# The end-to-end tests in a Linux guest (tests/guest/e2e.sh) and the demo
# of make run, whose answers must all equal the guest's: on each guest
# kernel, with the device in process, then out of process over vfio-user;
# then the out-of-process device's lifetime across VMs
# (scripts/guest-vfu-lifetime.sh, on the newest kernel)
if [ -z "${QEMU_BUILD:-}" ] &&
   { [ -z "$pattern" ] || [[ guest/e2e == *"$pattern"* ]]; }; then
    for kernel in $GUEST_KERNELS; do
        for transport in "in process" vfio-user; do
            opt=--kernel=$kernel
            [ "$transport" = vfio-user ] && opt="$opt --vfio-user"
            what="guest (Linux $kernel, $transport)"
            log=$logs/guest-e2e-$n.log
            # shellcheck disable=SC2086
            "$top/scripts/run-guest.sh" $opt e2e > "$log" 2>&1
            result $? "$what: Linux, nvme-cli and nvme-cs end to end: $(
                grep -a 'passed, .* failed' "$log" | tr -d '\r'); $(
                grep -a '^guest: e2e finished' "$log" |
                sed 's/^guest: e2e //')" "$log"
            log=$logs/guest-demo-$n.log
            # shellcheck disable=SC2086
            "$top/scripts/run-guest.sh" $opt demo > "$log" 2>&1
            result $? "$what: the make run demo ($(
                grep -a '^== Summary' "$log" | tr -d '\r' |
                sed 's/^== Summary: //'))" "$log"
        done
    done
    log=$logs/guest-lifetime.log
    lifetime="guest (Linux $(guest_kernel), vfio-user)"
    "$top/scripts/guest-vfu-lifetime.sh" > "$log" 2>&1
    while read -r line; do
        case $line in
        "ok - "*) result 0 "$lifetime: ${line#ok - }" "$log" ;;
        "not ok - "*) result 1 "$lifetime: ${line#not ok - }" "$log" ;;
        esac
    done < "$log"
    grep -q '^\(not \)\?ok - ' "$log" ||
        result 1 "guest: the vfio-user lifetime tests ran" "$log"
fi

if [ -z "$pattern" ] && [ -z "${QEMU_BUILD:-}" ]; then
    log=$logs/series.log
    "$top/scripts/series.sh" export > "$log" 2>&1
    result $? "series: exported and applied to pristine QEMU with git am" \
        "$log"
    log=$logs/checkpatch.log
    "$top/scripts/series.sh" checkpatch > "$log" 2>&1 &&
        ! grep -q '^WARNING' "$log"
    result $? "series: scripts/checkpatch.pl clean" "$log"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
