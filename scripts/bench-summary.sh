#!/usr/bin/env bash
# Measures every row of the summary table of BENCHMARKS.md and writes it
# (scripts/bench_summary.py): nothing in that table is typed by hand.
#
#   scripts/bench-summary.sh [NAME...]
#
# NAMEs (default: all): parse fetch linux subtree bpftrace bpftrace-fetch
# pdu namespace host-overhead exposition nagios derived serve pmcd
# pmcd-server bpftrace-cpu profile fleet. The cargo benches run BENCH_RUNS times (default 3); those that
# repeat inside one run (bench-pmcd.sh: 6 alternating rounds per row;
# serve-bench.sh: 3 rounds; the fleet bench: 3 fetches per case; the
# nagios, pmcd_server and profile_overhead benches: 3 runs;
# bench-derived.sh: 5 runs, its own section of BENCHMARKS.md) run once. Results are
# kept in target/bench-summary/ (one file per run, with the SUMMARY lines
# each benchmark prints), so naming some benchmarks re-measures only
# those and rebuilds the table from all stored results; each row says
# which command and which date produced it. The whole output of the
# cargo benches goes, run by run, into the generated "Latest runs" blocks
# of BENCHMARKS.md and the crates' BENCHMARKS files (scripts/bench_summary.py
# DETAILS says which); serve-bench.sh and bench-pmcd.sh rewrite
# serve-BENCHMARKS.md and pmcd-BENCHMARKS.md, whose bpftrace CPU section
# takes the --bpftrace-cpu runs.
#
# PCP_BENCH_SHARED: the shared bench directory (payload generator, PCP's
# parser harness); default ../shared/bench beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${BENCH_RUNS:-3}"
export PCP_BENCH_SHARED="${PCP_BENCH_SHARED:-$(pwd)/../shared/bench}"
OUT="${BENCH_SUMMARY_DIR:-target/bench-summary}"
mkdir -p "$OUT"

ALL=(parse fetch linux subtree bpftrace bpftrace-fetch pdu namespace host-overhead exposition nagios derived serve pmcd pmcd-server bpftrace-cpu profile fleet)
if [ $# -gt 0 ]; then WANT=("$@"); else WANT=("${ALL[@]}"); fi

# run NAME TIMES COMMAND...: runs COMMAND TIMES times, keeping each run's
# output (only the last round of results of a NAME is kept).
run() {
  local name=$1 times=$2
  shift 2
  rm -f "$OUT/$name".*.txt
  echo "$*" >"$OUT/$name.cmd"
  for i in $(seq 1 "$times"); do
    echo "bench-summary: $name, run $i of $times: $*" >&2
    if ! "$@" >"$OUT/$name.$i.txt" 2>"$OUT/$name.$i.err"; then
      echo "bench-summary: $name run $i failed (see $OUT/$name.$i.err)" >&2
    fi
  done
}

for name in "${WANT[@]}"; do
  case "$name" in
    parse) run parse "$RUNS" cargo bench -q -p pmda-prometheus --bench parse ;;
    fetch) run fetch "$RUNS" cargo bench -q -p pmda-prometheus --bench fetch ;;
    linux) run linux "$RUNS" cargo bench -q -p pmda-linux --bench fetch ;;
    subtree) run subtree "$RUNS" cargo bench -q -p pmda-linux --bench subtree ;;
    bpftrace) run bpftrace "$RUNS" cargo bench -q -p pmda-bpftrace --bench parse ;;
    bpftrace-fetch) run bpftrace-fetch "$RUNS" cargo bench -q -p pmda-bpftrace --bench fetch ;;
    pdu) run pdu "$RUNS" cargo bench -q -p pcp-core --bench pdu ;;
    namespace) run namespace "$RUNS" cargo bench -q -p pcp-core --bench namespace ;;
    host-overhead) run host-overhead "$RUNS" cargo bench -q -p pcp-agent --bench host_overhead ;;
    exposition) run exposition "$RUNS" cargo bench -q -p pcp-agent --bench exposition ;;
    derived) run derived 1 scripts/bench-derived.sh --write 5 ;;
    nagios) run nagios 1 cargo bench -q -p pmda-nagios --bench perfdata ;;
    serve) run serve 1 scripts/serve-bench.sh --write ;;
    pmcd) run pmcd 1 scripts/bench-pmcd.sh --write ;;
    pmcd-server) run pmcd-server 1 cargo bench -q -p pcp-agent --bench pmcd_server -- --runs 3 --secs 2 --write ;;
    profile) run profile 1 cargo bench -q -p pcp-agent --bench profile_overhead -- 60 3 ;;
    bpftrace-cpu) run bpftrace-cpu "$RUNS" scripts/bench-pmcd.sh --bpftrace-cpu 10 ;;
    fleet) run fleet 1 cargo bench -q -p pcp-agent --bench fleet ;;
    *) echo "bench-summary: unknown benchmark $name (one of: ${ALL[*]})" >&2; exit 2 ;;
  esac
done
python3 scripts/bench_summary.py "$OUT" BENCHMARKS.md
echo "bench-summary: wrote the summary of BENCHMARKS.md" >&2
