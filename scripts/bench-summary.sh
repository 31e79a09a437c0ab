#!/usr/bin/env bash
# Measures every row of the summary table of BENCHMARKS.md and writes it
# (scripts/bench_summary.py): nothing in that table is typed by hand.
#
#   scripts/bench-summary.sh [NAME...]
#
# NAMEs (default: all): parse fetch linux bpftrace pdu exposition serve
# pmcd bpftrace-cpu fleet. The per-crate cargo benches run BENCH_RUNS
# times (default 3); the scripts that alternate ours and the reference in
# rounds inside one run (bench-pmcd.sh: 6 rounds per row; serve-bench.sh:
# 3 rounds; the fleet bench: 3 fetches per case) run once. Results are
# kept in target/bench-summary/ (one file per run, with the SUMMARY lines
# each benchmark prints), so naming some benchmarks re-measures only
# those and rebuilds the table from all stored results; each row says
# which command and which date produced it.
#
# PCP_BENCH_SHARED: the shared bench directory (payload generator, PCP's
# parser harness); default ../shared/bench beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${BENCH_RUNS:-3}"
export PCP_BENCH_SHARED="${PCP_BENCH_SHARED:-$(pwd)/../shared/bench}"
OUT="${BENCH_SUMMARY_DIR:-target/bench-summary}"
mkdir -p "$OUT"

ALL=(parse fetch linux bpftrace pdu exposition serve pmcd bpftrace-cpu fleet)
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
    bpftrace) run bpftrace "$RUNS" cargo bench -q -p pmda-bpftrace --bench parse ;;
    pdu) run pdu "$RUNS" cargo bench -q -p pcp-core --bench pdu ;;
    exposition) run exposition "$RUNS" cargo bench -q -p pcp-agent --bench exposition ;;
    serve) run serve 1 scripts/serve-bench.sh ;;
    pmcd) run pmcd 1 scripts/bench-pmcd.sh --write ;;
    bpftrace-cpu) run bpftrace-cpu "$RUNS" scripts/bench-pmcd.sh --bpftrace-cpu 10 ;;
    fleet) run fleet 1 cargo bench -q -p pcp-agent --bench fleet ;;
    *) echo "bench-summary: unknown benchmark $name (one of: ${ALL[*]})" >&2; exit 2 ;;
  esac
done
python3 scripts/bench_summary.py "$OUT" BENCHMARKS.md
echo "bench-summary: wrote the summary of BENCHMARKS.md" >&2
