#!/bin/bash
# Build the assembled tree again with AddressSanitizer and UBSan, in
# build/asan-tree, and run the NVMe qtests and the eBPF unit tests against
# that build.
#
# The build is at -O1 with line tables only (-g1): what sanitizers are
# meant to run at, and less than half the compile time of QEMU's -O2 -g
# (GCC's maybe-uninitialized guesses are wrong at -O1 in libvfio-user).
set -euo pipefail
. "$(dirname "$0")/common.sh"

tree=$build/asan-tree
"$top/scripts/build-tree.sh" "$tree" --enable-asan --enable-ubsan \
    -Doptimization=1 --extra-cflags="-g1 -Wno-maybe-uninitialized" -- \
    qemu-system-x86_64 tests/qtest/qos-test tests/unit/test-bpf-vm

# QEMU leaks at exit by design; UBSan findings stop it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
QEMU_BUILD=$tree/build exec "$top/scripts/run-tests.sh" "$@"
