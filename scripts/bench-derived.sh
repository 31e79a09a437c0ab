#!/usr/bin/env bash
# Derived metrics against the raw fetch, in one run: pmrep's :iostat-dktx
# set (PCP's iostat derived metrics and the preset's formulas) over 500
# disks, against fetching the raw metrics it is computed from, through the
# same host and linux agent on a generated fixture tree
# (benches/derived.rs). RUNS runs (default 5, at least 3), each measuring
# both sides in turns (blocks of 10 fetches) for about 3 s; median and
# min-max of the ratios.
#
#   scripts/bench-derived.sh [--write] [RUNS]
#
# --write replaces the "Derived metrics" section of BENCHMARKS.md (between
# its markers) with the table, the date, the load average and this
# command.
set -euo pipefail
cd "$(dirname "$0")/.."

WRITE=0
if [ "${1:-}" = "--write" ]; then WRITE=1; shift; fi
RUNS="${1:-5}"

table=$(DERIVED_BENCH_RUNS="$RUNS" cargo bench -q -p pcp-agent --bench derived 2>/dev/null | grep '^|')
echo "$table"
[ "$WRITE" = 1 ] || exit 0

load=$(cut -d' ' -f1-3 /proc/loadavg)
section=$(mktemp)
trap 'rm -f "$section"' EXIT
{
    echo "<!-- bench-derived: start -->"
    echo "## pcp-core: derived metrics, pmrep's :iostat-dktx over 500 disks"
    echo
    echo "\`scripts/bench-derived.sh --write $RUNS\` ($(date -u +%Y-%m-%d), load average $load;"
    echo "\`cargo bench -p pcp-agent --bench derived\`): the linux agent on a fixture"
    echo "tree of 500 disks, fetched through one host; each run measures both sides"
    echo "for about 3 s, in turns of 10 fetches. CPU time is the process's (our thread and"
    echo "the agent's), the cost of the work; wall time adds the hand-offs to the"
    echo "agent's thread, which wait longer for a CPU on this shared machine when"
    echo "the client does work between fetches. Goal (issue 13): under 1.20x."
    echo
    echo "$table"
    echo "<!-- bench-derived: end -->"
} > "$section"

if grep -q '<!-- bench-derived: start -->' BENCHMARKS.md; then
    awk -v file="$section" '
        /<!-- bench-derived: start -->/ { while ((getline line < file) > 0) print line; skip = 1; next }
        /<!-- bench-derived: end -->/ { skip = 0; next }
        !skip { print }
    ' BENCHMARKS.md > BENCHMARKS.md.new
else
    { cat BENCHMARKS.md; echo; cat "$section"; } > BENCHMARKS.md.new
fi
mv BENCHMARKS.md.new BENCHMARKS.md
echo "BENCHMARKS.md updated" >&2
