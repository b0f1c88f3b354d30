#!/bin/bash
# Fuzz the series with libFuzzer (clang -fsanitize=fuzzer, with ASan and
# UBSan):
#
#   fuzz.sh bpf SECONDS     the eBPF machine (tests/fuzz/bpf-vm-fuzz.c):
#                           verifier, interpreter and JIT (which must
#                           agree), built from the tree
#                           on its own; seeded from the unit tests'
#                           programs and the conformance vectors
#   fuzz.sh qemu SECONDS    the NVMe controller with compute=on and an
#                           SLM through QEMU's generic-fuzz target
#                           (nvme-csd), on a QEMU built with
#                           --enable-fuzzing in build/fuzz-tree
#
# Each prints what it ran and "found nothing" or what it found (the input
# that crashes is kept under build/fuzz/); it exits non-zero if it found
# anything.  Corpora grow under build/fuzz/ from run to run.
set -euo pipefail
. "$(dirname "$0")/common.sh"

what=${1:?usage: fuzz.sh bpf|qemu SECONDS}
secs=${2:?usage: fuzz.sh bpf|qemu SECONDS}
out=$build/fuzz
mkdir -p "$out"

# Run libFuzzer binary $1 for $secs seconds on corpus $2, new inputs kept
# there; then the binary's own arguments, which go first, and after "--"
# directories of seeds
fuzz_run() {
    local bin=$1 corpus=$2 log=$out/$what.log rc
    local -a pre=() seeds=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        pre+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    seeds=("$@")
    mkdir -p "$corpus" "$out/artifacts"
    set +e
    "$bin" "${pre[@]}" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$what-" "$corpus" "${seeds[@]}" \
        > "$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $rc = 0 ] && [ -n "$runs" ]; then
        echo "fuzz $what: ${runs:-?} executions in $secs s, found nothing"
        return 0
    fi
    grep -a -m1 -B2 -A20 'ERROR\|depends on unset\|JIT\|deadly signal' "$log" ||
        tail -30 "$log"
    echo "fuzz $what: found a failure after ${runs:-?} executions;" \
         "the input: $(ls -t "$out"/artifacts/"$what"-* 2>/dev/null | head -1)"
    return 1
}

case $what in
bpf)
    [ -x "$qemu/build/tests/unit/test-bpf-vm" ] || die "not built; run make"
    src=(tests/fuzz/bpf-vm-fuzz.c util/bpf-vm.c util/bpf-vm-jit.c)
    bin=$out/bpf-vm-fuzz
    if [ ! -x "$bin" ] || [ -n "$(cd "$top" && find "${src[@]}" \
            include/qemu/bpf-vm.h util/bpf-vm-int.h util/bpf-vm-gen.py \
            -newer "$bin")" ]; then
        # the machine and the one QEMU utility it needs, built with clang
        clang -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined \
            -fno-sanitize-recover=undefined -D_GNU_SOURCE \
            -D_FILE_OFFSET_BITS=64 -iquote "$qemu" -iquote "$qemu/include" \
            -I"$qemu/include" -I"$qemu/build" \
            -I"$qemu/host/include/x86_64" -I"$qemu/host/include/generic" \
            -I"$qemu/linux-headers" $(pkg-config --cflags glib-2.0) \
            -o "$bin" "${src[@]/#/$top/}" "$qemu/util/crc32c.c" \
            $(pkg-config --libs glib-2.0)
    fi
    seeds=$out/bpf-seeds
    rm -rf "$seeds"
    BPF_VM_CONFORMANCE=${BPF_VM_CONFORMANCE:-$top/../shared/conformance/bpf} \
        "$qemu/build/tests/unit/test-bpf-vm" --corpus "$seeds"
    fuzz_run "$bin" "$out/bpf-corpus" -- "$seeds"
    ;;
qemu)
    tree=$build/fuzz-tree
    # (the vfio-user server's library does not link with clang's ASan)
    "$top/scripts/build-tree.sh" "$tree" --cc=clang --cxx=clang++ \
        --enable-fuzzing --enable-asan --enable-ubsan \
        --disable-vfio-user-server --disable-multiprocess -- qemu-fuzz-x86_64
    fuzz_run "$tree/build/qemu-fuzz-x86_64" "$out/qemu-corpus" \
        --fuzz-target=generic-fuzz-nvme-csd
    ;;
*)
    die "usage: fuzz.sh bpf|qemu SECONDS"
    ;;
esac
