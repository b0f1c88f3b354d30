#!/bin/sh
# Print the Debian archive URI this machine's apt sources already use, so
# that no mirror host is hard-coded: the main archive, or with --security
# the security archive.
set -eu
want='/debian/?$'
if [ "${1:-}" = --security ]; then
    want='/debian-security/?$'
fi
{
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2 }'
    done
} | grep -E "$want" | head -n 1 | grep . ||
    { echo "no Debian archive ($want) found in the apt sources" >&2; exit 1; }
