#!/bin/sh
# Captures the descriptors of PCP's pmdaproc (domain 3) from the running
# pmcd, in the order of pminfo's traversal of the namespace, as the TSV
# gen_metrics.py reads: name, PMID, type, indom, semantics, units.
#
# Run from the crate directory:  sh tools/capture_descs.sh > tools/pmdaproc-descs.tsv
# The order matters: the agent inserts its names in this order, so that
# its namespace lists children as pmdalinux's does.
set -eu
names=$(pminfo -m | awk '$3 ~ /^3\./ { print $1 }')
# shellcheck disable=SC2086
pminfo -dm $names | awk '
    / PMID: / { name = $1; pmid = $3; next }
    /Data Type:/ {
        line = $0
        sub(/^ *Data Type: /, "", line)
        split(line, a, "  InDom: ")
        type = a[1]
        split(a[2], b, " ")
        indom = b[1]
        next
    }
    /Semantics:/ {
        line = $0
        sub(/^ *Semantics: /, "", line)
        split(line, a, "  Units: ")
        printf "%s\t%s\t%s\t%s\t%s\t%s\n", name, pmid, type, indom, a[1], a[2]
    }
'
