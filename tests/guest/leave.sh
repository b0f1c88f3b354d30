#!/bin/sh
# Over vfio-user, the first of two VMs of one server (then return.sh):
# leave data in the NVM namespace and in SLM, and a program running.  The
# host ends this VM once the server runs the program; the next VM is given
# the digests printed here.

. "$(dirname "$0")"/ns.sh

dd if=/dev/urandom of=/tmp/nvm bs=64k count=4 2>/dev/null &&
    dd if=/tmp/nvm of=$NVM bs=64k seek=32 conv=fsync 2>/dev/null &&
    dd if=/dev/urandom of=/tmp/slm bs=64k count=4 2>/dev/null &&
    nvme-cs slm-write $CTRL -n 2 -o 4194304 -f /tmp/slm || exit 1
echo "CSD-GUEST: left $(sha256sum < /tmp/nvm | cut -c1-64),$(
    sha256sum < /tmp/slm | cut -c1-64)"

nvme-cs activate $CTRL -n 3 -s wait || exit 1
echo "CSD-GUEST: running the wait program (60 s, or the budget)"
nvme-cs exec $CTRL -n 3 -s wait --cparam1 60000
echo "CSD-GUEST: the VM was not ended while the program ran"
exit 1
