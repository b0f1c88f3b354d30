# Computational storage for QEMU: build, test and export the series.
#
#   make            build qemu-system-x86_64 and the tests (configures first)
#   make check      run every test, print "N passed, N failed"
#   make run        boot a Linux guest with the device and run the demo
#                   (VFIO_USER=1: the device out of process, over vfio-user)
#   make check-guest  the end-to-end tests in the guest (also in make check)
#   make bench      measure the eBPF machine against native C, and NVMe
#                   over vfio-user against in process
#   make refresh    write edits made in build/qemu back into patches/
#   make series     export the series as git format-patch files (build/series)
#   make check-series  build the exported series at every patch
#   make check-sanitizers  run the qtests against an ASan+UBSan build
#   make fuzz       fuzz the eBPF machine, then the controller through
#                   QEMU's generic-fuzz, FUZZ_SECONDS each (default 300)

.PHONY: all configure check check-guest run bench refresh series \
	check-series check-sanitizers fuzz clean distclean

all:
	scripts/build.sh

configure:
	./configure

check: all
	scripts/run-tests.sh

run: all
	scripts/run-demo.sh $(if $(VFIO_USER),--vfio-user)

check-guest: all
	scripts/run-guest.sh e2e

bench: all
	if [ -x build/qemu/build/tests/bench/nvme-bpf-bench ]; then \
		build/qemu/build/tests/bench/nvme-bpf-bench $(MIB); \
	else \
		echo "no eBPF benchmark: clang was not found when QEMU was" \
			"configured"; \
	fi
	QTEST_QEMU_BINARY=build/qemu/build/qemu-system-x86_64 \
		build/qemu/build/tests/qtest/nvme-vfu-bench $(COMMANDS)

refresh:
	scripts/refresh.sh $(if $(NEW),--new "$(NEW)")

series:
	scripts/series.sh export

check-series: series
	scripts/series.sh build-each

check-sanitizers:
	scripts/check-sanitizers.sh

FUZZ_SECONDS ?= 300
fuzz: all
	scripts/fuzz.sh bpf $(FUZZ_SECONDS); a=$$?; \
	scripts/fuzz.sh qemu $(FUZZ_SECONDS) && exit $$a

clean:
	rm -rf build/qemu/build build/series build/series-tree build/asan-tree \
		build/fuzz-tree build/fuzz build/guest

distclean:
	rm -rf build
