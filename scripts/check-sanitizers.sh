#!/bin/bash
# Build the assembled tree again with AddressSanitizer and UBSan, in
# build/asan-tree, and run the NVMe qtests and the eBPF unit tests against
# that build.
#
# The build is at -O1 with line tables only (-g1), what sanitizers are
# meant to run at (GCC's maybe-uninitialized guesses are wrong at -O1 in
# libvfio-user), and without TCG, which qtests do not use: on 2 cores it
# takes about 750 s, where -O2 -g with TCG took about 1250 s.
set -euo pipefail
. "$(dirname "$0")/common.sh"

tree=$build/asan-tree
"$top/scripts/build-tree.sh" "$tree" --enable-asan --enable-ubsan \
    --disable-tcg -Doptimization=1 \
    --extra-cflags="-g1 -Wno-maybe-uninitialized" -- \
    qemu-system-x86_64 tests/qtest/qos-test tests/unit/test-bpf-vm

# QEMU leaks at exit by design; UBSan findings stop it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# It must offer the NVMe qtests the main build has.
if [ -x "$qemu/build/tests/qtest/qos-test" ]; then
    nvme_tests() {
        QTEST_QEMU_BINARY=$1/qemu-system-x86_64 \
            "$1/tests/qtest/qos-test" -l | grep /nvme/
    }
    diff <(nvme_tests "$qemu/build") <(nvme_tests "$tree/build") ||
        die "the sanitizer build lacks NVMe qtests of the main build"
fi

QEMU_BUILD=$tree/build exec "$top/scripts/run-tests.sh" "$@"
