#!/bin/sh
# End-to-end tests in the guest: the Linux NVMe driver, nvme-cli and
# nvme-cs against the device of -device nvme,serial=csd0,drive=nvm0,
# compute=on (namespace 1 NVM, 2 memory, 3 compute).  Results are checked
# against what the guest computes itself.  Prints TAP and
# "N passed, N failed".

. "$(dirname "$0")"/ns.sh
. "$(dirname "$0")"/tap.sh

# The sum of the little-endian 32-bit integers of a file, in decimal
# (exact: below 2^53 for the sizes used here)
sum32() {
    od -An -tu4 -v "$1" | awk '{ for (i = 1; i <= NF; i++) s += $i }
                               END { printf "%.0f\n", s }'
}

# A program's result (nvme-cs prints it in hex) in decimal
result() {
    r=$(nvme-cs exec "$@") && printf '%d\n' "$r"
}

# the controller, a generic char device for each namespace and a block
# device for the NVM namespace only, found by NSID (ns.sh)
enumerated() {
    echo "NVM $NVM, memory $MEM, compute $CP" &&
        [ -c $CTRL ] && [ -b "$NVM" ] && [ -c "$MEM" ] && [ -c "$CP" ] &&
        [ "$(ls /dev/nvme0n* | wc -l)" = 1 ] &&
        [ "$(ls /dev/ng0n* | wc -l)" = 3 ]
}

# what the driver says of them
kernel_log() {
    dmesg | grep nvme > /tmp/dmesg
    grep -q 'nsid 2 not supported (csi 3)' /tmp/dmesg &&
        grep -q 'nsid 3 not supported (csi 4)' /tmp/dmesg
}

nvme_list() {
    nvme list | grep -q csd0 && nvme id-ctrl $CTRL | grep -q 'sn *: csd0'
}

# Identify CNS 1Ch: the I/O command set vector of NVM, ZNS, SLM and CP;
# CNS 08h of the compute namespace
vectors() {
    nvme id-iocs $CTRL > /tmp/v && cat /tmp/v &&
        grep -q 'Combination\[0\]:1d' /tmp/v &&
        nvme cmdset-ind-id-ns $CTRL -n 3
}

# Identify CNS 05h, CSI 04h, of the compute namespace: MAXACT 8 (nvme-cli
# 2.3's id-ns takes no CSI)
id_ns_cp() {
    nvme admin-passthru $CTRL --opcode=0x06 --namespace-id=3 --cdw10=5 \
        --cdw11=$((4 << 24)) --data-len=4096 --read --raw-binary > /tmp/id &&
        [ "$(od -An -tu2 -N2 /tmp/id | tr -d ' ')" = 8 ]
}

program_list() {
    nvme-cs list $CTRL > /tmp/l && cat /tmp/l &&
        grep -q "^nsid 2: memory namespace, 67108864 bytes, $MEM\$" /tmp/l &&
        grep -q "^nsid 3: compute namespace, $CP, " /tmp/l &&
        grep -q 'slot 2   device-defined' /tmp/l &&
        grep -q 'slot 9   empty' /tmp/l
}

# nvme-cs takes the controller and an NSID, or the namespace's device; a
# device that is not the namespace's is refused, naming the right one
by_nsid() {
    head -c 4096 /dev/urandom > /tmp/n &&
        nvme-cs slm-write $CTRL -n 2 -o 0 -f /tmp/n &&
        nvme-cs slm-read "$MEM" -o 0 -l 4096 -f /tmp/nb &&
        cmp /tmp/n /tmp/nb &&
        nvme-cs slm-read "$MEM" -n 2 -o 0 -l 4096 > /tmp/nb &&
        cmp /tmp/n /tmp/nb &&
        ! nvme-cs slm-read "$CP" -n 2 -o 0 -l 4096 2> /tmp/err &&
        cat /tmp/err && grep -q "^nvme-cs: $CP is the device of namespace 3, \
not of 2 (that is $MEM)\$" /tmp/err &&
        ! nvme-cs exec $CTRL -n 7 -s 0 2> /tmp/err && cat /tmp/err &&
        grep -q "^nvme-cs: $CTRL has no namespace 7 " /tmp/err
}

# 256 KiB of random data written to LBA 2048 of the NVM namespace, copied
# into SLM at 1 MiB with Memory Copy, read back
stage() {
    dd if=/dev/urandom of=/tmp/data bs=64k count=4 2>/dev/null &&
        dd if=/tmp/data of=$NVM bs=512 seek=2048 conv=fsync 2>/dev/null &&
        nvme-cs slm-copy $CTRL -n 2 -o 1048576 --nvm-nsid 1 --slba 2048 \
            --nlb 512 &&
        nvme-cs slm-read $CTRL -n 2 -o 1048576 -l 262144 -f /tmp/back &&
        cmp /tmp/data /tmp/back
}

# sha256 (device-defined, slot 2) of the staged data into SLM at 2 MiB
sha256() {
    rsid=$(nvme-cs mrs-create $CTRL -n 3 -r 2:1048576:262144 \
           -r 2:2097152:32) &&
        nvme-cs activate $CTRL -n 3 -s sha256 &&
        nvme-cs exec $CTRL -n 3 -s sha256 --rsid "$rsid" &&
        nvme-cs slm-read $CTRL -n 2 -o 2097152 -l 32 -f /tmp/digest &&
        [ "$(od -An -tx1 -v /tmp/digest | tr -d ' \n')" = \
          "$(sha256sum /tmp/data | cut -d' ' -f1)" ] &&
        nvme-cs deactivate $CTRL -n 3 -s sha256 &&
        nvme-cs mrs-delete $CTRL -n 3 --rsid "$rsid"
}

# reduce (device-defined, slot 0) and sum.bpf.o (downloaded, slot 9)
sums() {
    want=$(sum32 /tmp/data)
    rsid=$(nvme-cs mrs-create $CTRL -n 3 -r 2:1048576:262144) &&
        nvme-cs activate $CTRL -n 3 -s reduce &&
        [ "$(result $CTRL -n 3 -s reduce --rsid "$rsid" --cparam1 0x400)" = \
          "$want" ] &&
        nvme-cs load $CTRL -n 3 -s 9 -f /progs/sum.bpf.o --chunk 64 &&
        nvme-cs activate $CTRL -n 3 -s 9 &&
        [ "$(result $CTRL -n 3 -s 9 --rsid "$rsid")" = "$want" ] &&
        nvme-cs deactivate $CTRL -n 3 -s reduce &&
        nvme-cs mrs-delete $CTRL -n 3 --rsid "$rsid"
}

# hostile.bpf.o reading past its range is stopped; sum still works
hostile() {
    rsid=$(nvme-cs mrs-create $CTRL -n 3 -r 2:1048576:262144) &&
        nvme-cs load $CTRL -n 3 -s 10 -f /progs/hostile.bpf.o &&
        nvme-cs activate $CTRL -n 3 -s 10 &&
        ! nvme-cs exec $CTRL -n 3 -s 10 --rsid "$rsid" --cparam1 0 \
            2> /tmp/err &&
        cat /tmp/err && grep -q 'Invalid Program Data' /tmp/err &&
        [ "$(result $CTRL -n 3 -s 9 --rsid "$rsid")" = \
          "$(sum32 /tmp/data)" ] &&
        nvme-cs mrs-delete $CTRL -n 3 --rsid "$rsid"
}

# a program the verifier refuses: exit without setting r0
refused() {
    printf '\225\0\0\0\0\0\0\0' > /tmp/bad &&
        ! nvme-cs load $CTRL -n 3 -s 11 -f /tmp/bad 2> /tmp/err &&
        cat /tmp/err && grep -q 'Invalid Program Data' /tmp/err
}

# the NVM namespace works as a disk while a program runs: the 4 s wait
# program is still running when the disk I/O is done, then ends well
disk_while_running() {
    nvme-cs activate $CTRL -n 3 -s wait || return 1
    nvme-cs exec $CTRL -n 3 -s wait --cparam1 4000 > /tmp/wait &
    pid=$!
    dd if=/dev/urandom of=/tmp/disk bs=64k count=16 2>/dev/null &&
        dd if=/tmp/disk of=$NVM bs=64k seek=64 conv=fsync 2>/dev/null &&
        dd if=$NVM of=/tmp/disk2 bs=64k skip=64 count=16 iflag=direct \
            2>/dev/null &&
        cmp /tmp/disk /tmp/disk2 && kill -0 $pid && wait $pid &&
        [ $(($(cat /tmp/wait))) -ge 4000 ] &&
        nvme-cs deactivate $CTRL -n 3 -s wait
}

# The nvme-cli commands of docs/system/devices/nvme-csd.rst, as written
nvme_cli() {
    MEM=/dev/$(for d in /dev/ng0n*; do nvme get-ns-id $d; done |
               sed -n 's/: namespace-id:2$//p') &&
    CP=/dev/$(for d in /dev/ng0n*; do nvme get-ns-id $d; done |
              sed -n 's/: namespace-id:3$//p') &&
    [ -c "$MEM" ] && [ -c "$CP" ] &&
    head -c 4096 /dev/urandom > data.bin &&
    nvme io-passthru "$MEM" --opcode=0x05 --namespace-id=2 --cdw10=0 \
        --cdw12=4096 --data-len=4096 --input-file=data.bin --write &&
    nvme io-passthru "$MEM" --opcode=0x02 --namespace-id=2 --cdw10=0 \
        --cdw12=4096 --data-len=4096 --read --raw-binary > back.bin &&
    cmp data.bin back.bin &&
    size=$(stat -c %s /progs/sum.bin) &&
    nvme admin-passthru $CTRL --opcode=0x85 --namespace-id=3 \
        --cdw10=$((12 | 1 << 16)) --cdw11="$size" --cdw14="$size" \
        --data-len="$size" --input-file=/progs/sum.bin --write &&
    nvme admin-passthru $CTRL --opcode=0x88 --namespace-id=3 --cdw10=12 &&
    printf '\002\0\0\0\0\020\0\0' > range.bin &&
    head -c 24 /dev/zero >> range.bin &&
    nvme admin-passthru $CTRL --opcode=0x89 --namespace-id=3 --cdw11=1 \
        --data-len=32 --input-file=range.bin --write > mrs.out 2>&1 &&
    cat mrs.out &&
    rsid=$(sed -n 's/.*result: 0x\([0-9a-f]*\).*/\1/p' mrs.out) &&
    [ -n "$rsid" ] &&
    nvme io-passthru "$CP" --opcode=0x01 --namespace-id=3 \
        --cdw2=$((12 | 0x$rsid << 16)) > exec.out 2>&1 &&
    cat exec.out &&
    want=$(printf '%08x' $(($(sum32 data.bin) & 0xffffffff))) &&
    grep -q "result: 0x$want" exec.out
}

# The SLM in BAR 4 (slm.bar=on), mapped from sysfs: a store through the
# BAR read back with Memory Read, a program over it with its range given
# inline, and a Memory Write loaded back through the BAR
bar() {
    nvme-cs bar-info $CTRL > /tmp/b && cat /tmp/b &&
        grep -q '^BAR 4: 67108864 bytes' /tmp/b &&
        grep -q '^nsid 2 at offset 0x0$' /tmp/b &&
        head -c 65536 /dev/urandom > /tmp/w &&
        nvme-cs bar-write $CTRL -n 2 -o 3145728 -f /tmp/w &&
        nvme-cs slm-read $CTRL -n 2 -o 3145728 -l 65536 -f /tmp/wb &&
        cmp /tmp/w /tmp/wb &&
        nvme-cs activate $CTRL -n 3 -s reduce &&
        [ "$(result $CTRL -n 3 -s reduce -r 2:3145728:65536 \
                    --cparam1 0x400)" = \
          "$(sum32 /tmp/w)" ] &&
        nvme-cs deactivate $CTRL -n 3 -s reduce &&
        head -c 4096 /dev/urandom > /tmp/m &&
        nvme-cs slm-write $CTRL -n 2 -o 4194304 -f /tmp/m &&
        nvme-cs bar-read $CTRL -n 2 -o 4194304 -l 4096 -f /tmp/mb &&
        cmp /tmp/m /tmp/mb
}

# the nvme-cs commands the other tests do not use, a 1 MiB write and read
# (more than the controller's MDTS: split), and an error by name
tool_rest() {
    head -c 1048576 /dev/urandom > /tmp/big &&
        nvme-cs slm-write $CTRL -n 2 -o 8388608 -f /tmp/big &&
        nvme-cs slm-read $CTRL -n 2 -o 8388608 -l 1048576 -f /tmp/bigb &&
        cmp /tmp/big /tmp/bigb &&
        head -c 4096 /dev/urandom > /tmp/r &&
        nvme-cs slm-write $CTRL -n 2 -o 8192 -f /tmp/r &&
        nvme-cs slm-fill $CTRL -n 2 -o 8192 -l 4096 &&
        nvme-cs slm-read $CTRL -n 2 -o 8192 -l 4096 -f /tmp/z &&
        [ "$(stat -c %s /tmp/z)" = 4096 ] && cmp -n 4096 /tmp/z /dev/zero &&
        rsid=$(nvme-cs mrs-create $CTRL -n 3 -r 2:8192:4096) &&
        nvme-cs mrs-list $CTRL -n 3 | grep -q "^rsid $rsid: 2:8192:4096$" &&
        nvme-cs mrs-delete $CTRL -n 3 --rsid "$rsid" &&
        nvme-cs deactivate $CTRL -n 3 -s 9 && nvme-cs unload $CTRL -n 3 -s 9 &&
        nvme-cs list $CTRL | grep -q 'slot 9   empty' &&
        ! nvme-cs exec $CTRL -n 3 -s 9 2> /tmp/err && cat /tmp/err &&
        grep -q 'Execute Program: No Program (0x196' /tmp/err &&
        nvme-cs exec --help | grep -q '^Usage: nvme-cs exec'
}

t "the controller and its namespaces are enumerated" enumerated
t "the kernel: no block device for CSI 03h and 04h namespaces" kernel_log
t "nvme list and nvme id-ctrl" nvme_list
t "nvme id-iocs (NVM, ZNS, SLM, CP) and cmdset-ind-id-ns" vectors
t "Identify Namespace, CSI 04h" id_ns_cp
t "nvme-cs list: namespaces, their devices and Program List" program_list
t "nvme-cs finds a namespace's device by NSID; refuses a wrong one" by_nsid
t "NVM namespace data staged into SLM with Memory Copy" stage
t "device-defined sha256 equals sha256sum" sha256
t "device-defined reduce and eBPF sum equal the guest's sum" sums
t "a hostile eBPF program is stopped; a valid one runs after" hostile
t "the verifier refuses a bad program" refused
t "the NVM namespace works as a disk while a program runs" \
    disk_while_running
t "the nvme-cli commands of the documentation" nvme_cli
t "nvme-cs slm-fill, 1 MiB transfers, mrs-list, unload; errors by name" \
    tool_rest
t "the SLM through BAR 4: stores, loads, a program over them" bar

echo "# $(uname -r): NSID 1 $NVM, 2 $MEM, 3 $CP"
sed 's/^/# dmesg: /' /tmp/dmesg
tap_end
