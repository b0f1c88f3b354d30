#!/bin/bash
# Build the guests under build/guest from Debian 12 packages, one per
# kernel of GUEST_KERNELS (scripts/common.sh): build/guest/KERNEL/
# {vmlinuz,initrd.gz}, the kernel of that series (linux-image-amd64 of
# bookworm, or of bookworm-backports) with its NVMe driver modules and what
# modules.dep says they need, busybox-static, nvme-cli and its libraries,
# nvme-cs (contrib/nvme-cs, built static), the eBPF programs of the qtests
# and the scenarios of tests/guest.
#
# The packages come through an apt configuration of the guest's own
# (build/guest/apt: bookworm, its updates, security and backports, on the
# Debian archive this machine's apt sources use); they are fetched with
# apt-get download and unpacked with dpkg-deb -x; nothing is installed on
# the host.  What was fetched is kept: the archive moves on.
#
#   build-guest.sh [KERNEL...]   (re)builds the guests of those kernels
#                                (default: all)
set -euo pipefail
. "$(dirname "$0")/common.sh"

guest=$build/guest
kernels=${*:-$GUEST_KERNELS}
mkdir -p "$guest"
# one build at a time (guests of both kernels may be started at once)
exec 9> "$guest/.lock"
flock 9
for k in $kernels; do
    [[ " $GUEST_KERNELS " == *" $k "* ]] ||
        die "no guest kernel $k (there are: $GUEST_KERNELS)"
done

# nvme-cli's libraries and theirs, as bookworm packages them
PACKAGES="busybox-static nvme-cli libnvme1 libjson-c5 libdbus-1-3 libssl3
libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1
zlib1g libc6"

# The guest's apt: its own sources, lists, cache and (empty) status
apt_dir=$guest/apt
apt_setup() {
    local uri sec key=/usr/share/keyrings/debian-archive-keyring.gpg
    uri=$("$top/scripts/debian-uri.sh")
    sec=$("$top/scripts/debian-uri.sh" --security 2> /dev/null) || sec=
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" \
        "$apt_dir/sources.list.d" "$apt_dir/preferences.d"
    : > "$apt_dir/status"
    {
        for suite in bookworm bookworm-updates bookworm-backports; do
            echo "deb [signed-by=$key] $uri $suite main"
        done
        [ -z "$sec" ] || echo "deb [signed-by=$key] $sec bookworm-security main"
    } > "$apt_dir/sources.list"
    cat > "$apt_dir/apt.conf" <<CONF
Dir::State "$apt_dir";
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir/cache";
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/sources.list.d";
Dir::Etc::Preferences "$apt_dir/preferences";
Dir::Etc::PreferencesParts "$apt_dir/preferences.d";
APT::Architecture "amd64";
APT::Architectures "amd64";
APT::Sandbox::User "root";
Debug::NoLocking "true";
CONF
    apt-get -c "$apt_dir/apt.conf" update -q > "$apt_dir/update.log" 2>&1 ||
        { cat "$apt_dir/update.log" >&2; die "apt-get update failed"; }
    touch "$apt_dir/.done"
}
apt_() {
    [ -f "$apt_dir/.done" ] || apt_setup
    "$@" -c "$apt_dir/apt.conf"
}

# The image package of kernel series $1: what some version of
# linux-image-amd64 depends on, the newest first
kernel_pkg() {
    local v
    for v in $(apt_ apt-cache madison linux-image-amd64 | awk '{ print $3 }')
    do
        apt_ apt-cache depends "linux-image-amd64=$v" |
            sed -n 's/^ *Depends: \(linux-image-[^ ]*-amd64\)$/\1/p'
    done | awk -v p="linux-image-$1." 'index($0, p) == 1 && !n++ { print }
                                        END { exit !n }'
}

# Fetch packages $2... into $1 once, and unpack them into $1/root
fetch() {
    local dir=$1
    shift
    if [ ! -f "$dir/.fetched" ]; then
        rm -rf "$dir"
        mkdir -p "$dir/debs"
        (cd "$dir/debs" && apt_ apt-get download -q "$@") || return 1
        touch "$dir/.fetched"
    fi
    if [ ! -f "$dir/.unpacked" ]; then
        rm -rf "$dir/root"
        for deb in "$dir"/debs/*.deb; do
            dpkg-deb -x "$deb" "$dir/root"
        done
        touch "$dir/.unpacked"
    fi
}

# Once the lists are older than what the archive serves, fetch again with
# new lists (the kernel's package name may have changed)
# shellcheck disable=SC2086
fetch "$guest/userland" $PACKAGES ||
    { apt_setup && fetch "$guest/userland" $PACKAGES; } ||
    die "apt-get download failed"

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

depmod=$(PATH=$PATH:/usr/sbin:/sbin command -v depmod) ||
    die "no depmod: run scripts/install-deps.sh (Debian's kmod)"
for k in $kernels; do
    dir=$guest/$k
    if [ ! -f "$dir/.fetched" ]; then
        fetch "$dir" "$(kernel_pkg "$k")" ||
            { apt_setup && fetch "$dir" "$(kernel_pkg "$k")"; } ||
            die "no linux-image-$k.*-amd64 in bookworm or its backports"
    fi
    fetch "$dir"
    kver=$(ls "$dir/root/lib/modules")
    # the package has no modules.dep: its postinst runs depmod
    [ -f "$dir/root/lib/modules/$kver/modules.dep" ] ||
        "$depmod" -b "$dir/root" "$kver"
    cp "$dir/root/boot/vmlinuz-$kver" "$dir/vmlinuz"
    python3 "$top/scripts/guest-initramfs.py" "$dir/initrd.gz.new" \
        "$guest/userland/root" "$dir/root" "$kver" "${args[@]}"
    mv "$dir/initrd.gz.new" "$dir/initrd.gz"
    echo "guest $k: kernel $kver, $(du -k "$dir/initrd.gz" | cut -f1) KiB" \
        "initramfs"
done
