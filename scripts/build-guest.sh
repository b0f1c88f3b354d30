#!/bin/bash
# Build the guest under build/guest from Debian packages: the bookworm
# kernel and its NVMe modules, busybox-static, nvme-cli and its libraries,
# fetched with apt-get download and unpacked with dpkg-deb -x (nothing is
# installed on the host), plus nvme-cs (contrib/nvme-cs, built static), the
# eBPF programs of the qtests and the scenarios of tests/guest.
#
#   build-guest.sh      (re)builds build/guest/{vmlinuz,initrd.gz} when
#                       anything they are made of changed
set -euo pipefail
. "$(dirname "$0")/common.sh"

guest=$build/guest
dl=$guest/dl
pkgs=$guest/pkgs
mkdir -p "$dl"

# nvme-cli's libraries and theirs, as bookworm packages them
PACKAGES="busybox-static nvme-cli libnvme1 libjson-c5 libdbus-1-3 libssl3
libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1
zlib1g libc6"

kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' |
        head -1
}

# The packages, once: the archive moves on, so keep what was fetched.
if [ ! -f "$dl/.done" ]; then
    kpkg=$(kernel_pkg)
    if [ -z "$kpkg" ]; then
        apt-get update -qq
        kpkg=$(kernel_pkg)
    fi
    [ -n "$kpkg" ] || die "no linux-image-6.1.*-amd64 in the apt sources"
    rm -rf "$dl"/*.deb
    # shellcheck disable=SC2086
    (cd "$dl" && apt-get download -q "$kpkg" $PACKAGES) ||
        die "apt-get download failed"
    touch "$dl/.done"
fi
if [ ! -f "$pkgs/.done" ] || [ "$dl/.done" -nt "$pkgs/.done" ]; then
    rm -rf "$pkgs"
    mkdir -p "$pkgs"
    for deb in "$dl"/*.deb; do
        dpkg-deb -x "$deb" "$pkgs"
    done
    touch "$pkgs/.done"
fi
kver=$(ls "$pkgs/lib/modules")

# nvme-cs: shares block/nvme.h and block/nvme-csd.h with the device
mkdir -p "$guest/bin"
cc -static -O2 -Wall -Werror -Wno-unused-parameter \
    -Wno-missing-field-initializers -I "$top/contrib/nvme-cs" \
    -I "$qemu/include" -o "$guest/bin/nvme-cs.new" \
    "$top/contrib/nvme-cs/nvme-cs.c"
mv "$guest/bin/nvme-cs.new" "$guest/bin/nvme-cs"

progs=$qemu/build/tests
for p in sum filter crc hostile; do
    [ -f "$progs/$p.bpf.o" ] || die "$progs/$p.bpf.o missing: run make"
done

cp "$pkgs/boot/vmlinuz-$kver" "$guest/vmlinuz"
args=("$guest/bin/nvme-cs=usr/bin/nvme-cs" "$top/tests/guest/init=init")
for s in "$top"/tests/guest/*.sh; do
    args+=("$s=scenario/${s##*/}")
done
for p in sum filter crc hostile; do
    args+=("$progs/$p.bpf.o=progs/$p.bpf.o")
done
# sum's raw instructions too, for nvme-cli (what llvm-objcopy -O binary
# --only-section=.text gives)
PYTHONPATH=$top/tests/qtest/nvme-bpf python3 -c '
import sys, embed
open(sys.argv[2], "wb").write(embed.text_of(sys.argv[1]))' \
    "$progs/sum.bpf.o" "$guest/sum.bin"
args+=("$guest/sum.bin=progs/sum.bin")
python3 "$top/scripts/guest-initramfs.py" "$guest/initrd.gz.new" "$pkgs" \
    "$kver" "${args[@]}"
mv "$guest/initrd.gz.new" "$guest/initrd.gz"
echo "guest: kernel $kver, $(du -k "$guest/initrd.gz" | cut -f1) KiB initramfs"
