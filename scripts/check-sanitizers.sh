#!/bin/bash
# Build the assembled tree again with AddressSanitizer and UBSan, in
# build/asan-tree, and run the NVMe qtests and the eBPF unit tests against
# that build.
set -euo pipefail
. "$(dirname "$0")/common.sh"

tree=$build/asan-tree
"$top/scripts/build-tree.sh" "$tree" --enable-asan --enable-ubsan

# QEMU leaks at exit by design; UBSan findings stop it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
QEMU_BUILD=$tree/build exec "$top/scripts/run-tests.sh" "$@"
