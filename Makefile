# Computational storage for QEMU: build, test and export the series.
#
#   make            build qemu-system-x86_64 and the tests (configures first)

.PHONY: all configure clean distclean

all:
	scripts/build.sh

configure:
	./configure

clean:
	rm -rf build/qemu/build

distclean:
	rm -rf build
