# Sourced by the scenarios: the device nodes of the namespaces of the first
# controller, by namespace ID.  Linux numbers /dev/ng0nY and /dev/nvme0nY in
# the order it finds the namespaces, which is the NSID order on 6.1 but
# not on 6.12 (it probes them in parallel): ask each node its NSID, as
# docs/system/devices/nvme-csd.rst shows.
#
#   nsdev /dev/ng0n NSID     its generic char device
#   nsdev /dev/nvme0n NSID   its block device, if Linux made one

nsdev() {
    for d in "$1"*; do
        nvme get-ns-id "$d"
    done 2> /dev/null | sed -n "s|^\(.*\): namespace-id:$2\$|/dev/\1|p"
}

CTRL=/dev/nvme0
NVM=$(nsdev /dev/nvme0n 1)
MEM=$(nsdev /dev/ng0n 2)
CP=$(nsdev /dev/ng0n 3)
