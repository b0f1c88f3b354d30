#!/bin/sh
# The make run demo: what the device offers, a data set staged from the NVM
# namespace into subsystem local memory, device-defined and eBPF programs
# run over it, and the guest computing the same itself to compare, with the
# bytes that had to cross between the device and the guest in each case.

. "$(dirname "$0")"/ns.sh
SIZE=1048576            # the data set: 65536 records of 16 bytes
REC=16
THRESHOLD=3000000000    # records whose second field is above this
# CPARAM2 of filter.c: the threshold in bits 63:32, the field's offset (4)
CPARAM2=0x$(printf '%08x' $THRESHOLD)00000004
ok=0
bad=0

say() {
    echo
    echo "== $*"
}

compare() {
    if [ "$2" = "$3" ]; then
        echo "   same answer: $2"
        ok=$((ok + 1))
    else
        echo "   DIFFERENT: device $2, guest $3"
        bad=$((bad + 1))
    fi
}

say "The device, as Linux and nvme-cli see it"
nvme list
nvme-cs list $CTRL

say "A data set on the NVM namespace: $((SIZE / REC)) records of $REC bytes"
dd if=/dev/urandom of=/tmp/data bs=64k count=$((SIZE / 65536)) 2>/dev/null
dd if=/tmp/data of=$NVM bs=64k conv=fsync 2>/dev/null
echo "   written to LBA 0 of $NVM"

say "Memory Copy: the device copies it into its local memory (namespace 2)"
nvme-cs slm-copy $CTRL -n 2 -o 0 --nvm-nsid 1 --slba 0 --nlb $((SIZE / 512))
echo "   $SIZE bytes moved inside the device, 0 through the guest"
rsid=$(nvme-cs mrs-create $CTRL -n 3 -r 2:0:$SIZE -r 2:$SIZE:$SIZE)
echo "   memory range set $rsid: the data, and $SIZE bytes of output space"

say "Device-defined program sha256 (slot 2): the digest of the data set"
nvme-cs activate $CTRL -n 3 -s sha256
nvme-cs exec $CTRL -n 3 -s sha256 --rsid "$rsid" > /dev/null
nvme-cs slm-read $CTRL -n 2 -o $SIZE -l 32 -f /tmp/digest
dev=$(od -An -tx1 -v /tmp/digest | tr -d ' \n')
guest=$(dd if=$NVM bs=64k count=$((SIZE / 65536)) 2>/dev/null | sha256sum |
        cut -d' ' -f1)
compare sha256 "$dev" "$guest"
echo "   crossed to the guest: device 32 bytes, guest $SIZE bytes"
nvme-cs deactivate $CTRL -n 3 -s sha256

say "An eBPF program built with clang -target bpf: filter (slot 9)"
nvme-cs load $CTRL -n 3 -s 9 -f /progs/filter.bpf.o
nvme-cs activate $CTRL -n 3 -s 9
dev=$(printf '%d' "$(nvme-cs exec $CTRL -n 3 -s 9 --rsid "$rsid" \
                     --cparam1 $REC --cparam2 $CPARAM2)")
guest=$(dd if=$NVM bs=64k count=$((SIZE / 65536)) 2>/dev/null |
        od -An -tu4 -v -w$REC | awk -v t=$THRESHOLD '$2 > t { c++ }
                                                     END { print c + 0 }')
compare "records with field > $THRESHOLD" "$dev" "$guest"
echo "   crossed to the guest: device 8 bytes (the count; the records are"
echo "   in SLM for the next step), guest $SIZE bytes"

say "An eBPF program that misbehaves is stopped; the device goes on"
nvme-cs load $CTRL -n 3 -s 10 -f /progs/hostile.bpf.o
nvme-cs activate $CTRL -n 3 -s 10
# it reads past its range: the device must stop it with Invalid Program Data
if nvme-cs exec $CTRL -n 3 -s 10 --rsid "$rsid" --cparam1 0 2> /tmp/err; then
    echo "   NOT STOPPED"
    bad=$((bad + 1))
elif grep -q 'Invalid Program Data' /tmp/err; then
    cat /tmp/err
    echo "   (reading past its range: stopped as it should be)"
    ok=$((ok + 1))
else
    cat /tmp/err
    echo "   STOPPED, BUT NOT FOR ITS BAD ACCESS"
    bad=$((bad + 1))
fi
dev=$(printf '%d' "$(nvme-cs exec $CTRL -n 3 -s 9 --rsid "$rsid" \
                     --cparam1 $REC --cparam2 $CPARAM2)")
compare "filter again, after it" "$dev" "$guest"

say "Summary: $ok answers of the device are right, $bad are not"
[ "$bad" = 0 ]
