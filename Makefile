# Computational storage for QEMU: build, test and export the series.
#
#   make            build qemu-system-x86_64 and the tests (configures first)
#   make check      run every test, print "N passed, N failed"
#   make run        boot a Linux guest with the device and run the demo
#                   (VFIO_USER=1: the device out of process, over vfio-user;
#                   KERNEL=6.1: Debian 12's 6.1 kernel, not its newest 6.12)
#   make check-guest  the guest suites on every guest kernel (also in make
#                   check)
#   make bench      measure the series against pristine upstream QEMU,
#                   vfio-user against in process, the computational storage
#                   commands against NVM I/O and the host: a table, and
#                   build/bench/report.md with a plot (REPS=5 repetitions)
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
	scripts/run-demo.sh $(if $(VFIO_USER),--vfio-user) \
		$(if $(KERNEL),--kernel=$(KERNEL))

check-guest: all
	scripts/run-tests.sh guest/e2e

REPS ?= 5
bench: all
	command -v gnuplot > /dev/null || scripts/install-deps.sh
	scripts/build-pristine.sh
	scripts/bench.py --reps $(REPS)

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
		build/bench \
		build/fuzz-tree build/fuzz build/guest

distclean:
	rm -rf build
