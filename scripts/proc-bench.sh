#!/usr/bin/env bash
# pmda-proc against PCP's pmdaproc 6.0.3 and prometheus-process-exporter,
# at 100, 1,000 and 10,000 extra idle processes spawned for the run (and
# killed after it): fetch time of
#   - proc.psinfo.utime + proc.memory.rss (the issue's headline fetch),
#   - every metric of proc.psinfo, proc.memory, proc.io, proc.schedstat
#     and proc.id ("full"),
#   - the full set restricted by the client's profile to 10 processes,
# with both agents as pipe agents under one private pmcd (pmdaproc at 3,
# ours at 203; the client on pmcd's unix socket, so both read as root),
# and in process (ours in a pcp_core::Host, pmdaproc as its DSO in a
# PM_CONTEXT_LOCAL context); both agents' VmRSS under pmcd; and one HTTP
# scrape of a per-process set (`pcp-agent serve` against
# prometheus-process-exporter with a group per process). Rounds alternate
# ours and the reference; figures are medians with min-max over rounds,
# ratios are per round (reference time / ours: above 1 means ours is
# faster).
#
#   scripts/proc-bench.sh [--write] [ROUNDS] [COUNTS]
#
# ROUNDS defaults to 3, COUNTS to 100,1000,10000. --write replaces
# pmda-proc/BENCHMARKS.md with the results. Needs root, PCP 6 with
# python3-pcp and prometheus-process-exporter (scripts/setup-systems.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

WRITE=0
if [ "${1:-}" = "--write" ]; then WRITE=1; shift; fi
ROUNDS="${1:-3}"
COUNTS="${2:-100,1000,10000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

[ -x /usr/lib/pcp/bin/pmcd ] || { echo "pmcd missing (package pcp)" >&2; exit 1; }
[ -x /var/lib/pcp/pmdas/proc/pmdaproc ] || { echo "pmdaproc missing (package pcp)" >&2; exit 1; }
/usr/bin/python3 -c 'import pcp.pmapi' 2>/dev/null || { echo "python3-pcp is needed" >&2; exit 1; }
if ! command -v prometheus-process-exporter >/dev/null; then
  # Debian's package; its post-install calls systemctl, which a stand-in
  # answers here (the bench starts its own exporter).
  shim=$(mktemp -d)
  printf '#!/bin/sh\nexit 0\n' >"$shim/systemctl"
  chmod +x "$shim/systemctl"
  PATH="$shim:$PATH" DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus-process-exporter >/dev/null \
    || { echo "prometheus-process-exporter is needed (apt-get install failed)" >&2; exit 1; }
  rm -rf "$shim"
fi

cargo build -q --release -p pcp-agent
cargo build -q --release -p pmda-proc --example proc_bench
case "$CARGO_TARGET_DIR" in
  /*) T="$CARGO_TARGET_DIR/release" ;;
  *) T="$(pwd)/$CARGO_TARGET_DIR/release" ;;
esac

# Each agent keeps a descriptor or two per process at most, the spawner
# none; 10,000 processes need the process limit above that (root's is
# usually unlimited) and pid_max above the total.
ulimit -n "$(ulimit -Hn)"
ulimit -u unlimited 2>/dev/null || ulimit -u "$(ulimit -Hu)"

SCRATCH=$(mktemp -d /tmp/pcp-agent-proc-bench.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
export BENCH_AGENT="$T/pcp-agent" BENCH_HELPER="$T/examples/proc_bench"
export BENCH_SCRATCH="$SCRATCH" BENCH_WRITE="$WRITE" BENCH_ROUNDS="$ROUNDS"
export BENCH_COUNTS="$COUNTS" BENCH_OUT="$(pwd)/pmda-proc/BENCHMARKS.md"
export BENCH_COMMAND="scripts/proc-bench.sh $([ "$WRITE" = 1 ] && echo '--write ')$ROUNDS $COUNTS"
# PCP's Python modules are in the system python3.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
exec /usr/bin/python3 scripts/proc-bench.py
