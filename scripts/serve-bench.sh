#!/usr/bin/env bash
# Load test of `pcp-agent serve` against real pmproxy 6.0.3, in the same
# run, from a second process on loopback (wrk): requests per second and p99
# latency of /metrics and /pmapi/fetch on the same metric roles.
#
#   scripts/serve-bench.sh [--write] [DURATION_SECONDS]
#
# --write replaces serve-BENCHMARKS.md with the table. Needs: wrk
# (scripts/serve-setup.sh), pmproxy and a running pmcd (scripts/setup-systems.sh).
#
# Metrics: pmproxy serves PCP's pmdalinux (kernel.all.load, hinv.ncpu,
# kernel.all.cpu.user); we serve the same names from our linux agent when it
# is available, else the simple agent's metrics of the same roles (an
# instance-domain gauge, a singular metric, a counter).
set -euo pipefail
cd "$(dirname "$0")/.."

WRITE=0
if [ "${1:-}" = "--write" ]; then WRITE=1; shift; fi
DURATION="${1:-10}"
THREADS=2
CONNS=16
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

command -v wrk >/dev/null || { echo "wrk missing: run scripts/serve-setup.sh" >&2; exit 1; }
PMPROXY=/usr/lib/pcp/bin/pmproxy
[ -x "$PMPROXY" ] || { echo "pmproxy missing (package pcp)" >&2; exit 1; }

cargo build -q --release -p pcp-agent
BIN="$CARGO_TARGET_DIR/release/pcp-agent"
SCRATCH=$(mktemp -d /tmp/pcp-agent-bench.XXXXXX)
export PCP_AGENT_STATE_DIR="$SCRATCH/state"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2; return 1
}

if "$BIN" --agents linux info kernel.all.load >/dev/null 2>&1; then
    AGENTS=linux
    OURS="kernel.all.load,hinv.ncpu,kernel.all.cpu.user"
else
    AGENTS=simple
    OURS="simple.color,simple.numfetch,simple.time.user"
fi
THEIRS="kernel.all.load,hinv.ncpu,kernel.all.cpu.user"

SERVE_PORT=$(free_port)
"$BIN" --agents "$AGENTS" serve --listen "127.0.0.1:$SERVE_PORT" --max-connections 64 \
    2>"$SCRATCH/serve.log" &
SERVE_PID=$!
# pmproxy 6.0.3 can crash under this load (seen: SIGSEGV during
# /pmapi/fetch), so each of its runs gets a fresh process; a crash is
# reported in the errors column.
PROXY_PID=
PROXY_N=0
start_proxy() {
    PROXY_N=$((PROXY_N + 1))
    PROXY_PORT=$(free_port)
    mkdir -p "$SCRATCH/run$PROXY_N"
    local args=(-f -A -i 127.0.0.1 -p "$PROXY_PORT" -s "$SCRATCH/pmproxy$PROXY_N.socket"
        -l "$SCRATCH/pmproxy$PROXY_N.log" -x "$SCRATCH/pmproxy$PROXY_N.fatal")
    [ "$(id -u)" = 0 ] && args+=(-U root)
    PCP_RUN_DIR="$SCRATCH/run$PROXY_N" "$PMPROXY" "${args[@]}" >/dev/null 2>&1 &
    PROXY_PID=$!
    wait_port "$PROXY_PORT"
    sleep 0.5
    TCTX=$(ctx "$PROXY_PORT")
    curl -sf "http://127.0.0.1:$PROXY_PORT/pmapi/fetch?context=$TCTX&names=$THEIRS" >/dev/null
    curl -sf "http://127.0.0.1:$PROXY_PORT/metrics?names=$THEIRS" >/dev/null
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=; }
cleanup() {
    kill "$SERVE_PID" 2>/dev/null || true
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
    wait 2>/dev/null || true
    [ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT
wait_port "$SERVE_PORT"

# A context as clients (Grafana) keep one; without it pmproxy opens a new
# pmcd context for every request.
ctx() { curl -sf "http://127.0.0.1:$1/pmapi/context?polltimeout=600" | python3 -c 'import json,sys; print(json.load(sys.stdin)["context"])'; }
OCTX=$(ctx "$SERVE_PORT")
# Warm both (pmproxy caches metadata per context).
curl -sf "http://127.0.0.1:$SERVE_PORT/pmapi/fetch?context=$OCTX&names=$OURS" >/dev/null
curl -sf "http://127.0.0.1:$SERVE_PORT/metrics?names=$OURS" >/dev/null

# run NAME URL -> "ok_rps p99_ms errors": ok_rps counts 2xx answers only
# (an overloaded server answering errors fast must not look faster).
run() {
    local out
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$2")
    echo "$out" >"$SCRATCH/$1.wrk"
    local rps p99 total bad
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    bad=${bad:-0}
    local ok
    ok=$(python3 -c "import sys; r,t,b=map(float,sys.argv[1:]); print(f'{r*max(t-b,0)/t:.0f}' if t else '0')" "${rps:-0}" "${total:-0}" "$bad")
    # Socket errors (refused, reset) are not requests: add them after.
    sock=$(awk '/Socket errors:/ {gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out")
    bad=$((bad + ${sock:-0}))
    echo "$ok ${p99:-n/a} $bad"
}

declare -A R
# run_proxy NAME PATH (PATH may use $TCTX): a fresh pmproxy per run.
run_proxy() {
    start_proxy
    local path=${2//@CTX@/$TCTX}
    local r
    r=$(run "$1" "http://127.0.0.1:$PROXY_PORT$path")
    if ! kill -0 "$PROXY_PID" 2>/dev/null; then
        read -r a b c <<<"$r"
        r="$a ${b:-n/a} ${c}+crashed"
        echo "pmproxy crashed during $1; log tail:" >&2
        tail -3 "$SCRATCH/pmproxy$PROXY_N.log" >&2
    fi
    stop_proxy
    echo "$r"
}
R[of]=$(run ours-fetch "http://127.0.0.1:$SERVE_PORT/pmapi/fetch?context=$OCTX&names=$OURS")
R[tf]=$(run_proxy pmproxy-fetch "/pmapi/fetch?context=@CTX@&names=$THEIRS")
R[omc]=$(run ours-metrics-ctx "http://127.0.0.1:$SERVE_PORT/metrics?context=$OCTX&names=$OURS")
R[tmc]=$(run_proxy pmproxy-metrics-ctx "/metrics?context=@CTX@&names=$THEIRS")
R[om]=$(run ours-metrics "http://127.0.0.1:$SERVE_PORT/metrics?names=$OURS")
R[tm]=$(run_proxy pmproxy-metrics "/metrics?names=$THEIRS")
kill -0 "$SERVE_PID" 2>/dev/null || { echo "pcp-agent serve died:" >&2; cat "$SCRATCH/serve.log" >&2; exit 1; }

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x' if b else 'n/a')" "$1" "$2"; }
row() { # endpoint ours theirs
    read -r ors op99 oerr <<<"$2"; read -r trs tp99 terr <<<"$3"
    echo "| $1 | $ors | $op99 | $oerr | $trs | $tp99 | $terr | $(ratio "$ors" "$trs") |"
}

TABLE=$(cat <<EOT
| endpoint | serve ok req/s | serve p99 ms | serve errors | pmproxy ok req/s | pmproxy p99 ms | pmproxy errors | serve / pmproxy |
|---|---:|---:|---:|---:|---:|---:|---:|
$(row "/pmapi/fetch?context=N&names=…" "${R[of]}" "${R[tf]}")
$(row "/metrics?context=N&names=…" "${R[omc]}" "${R[tmc]}")
$(row "/metrics?names=… (no context, as Prometheus scrapes)" "${R[om]}" "${R[tm]}")
EOT
)

CPU=$(awk -F: '/model name/ {gsub(/^ +/,"",$2); print $2; exit}' /proc/cpuinfo)
NCPU=$(nproc)
SECTION=$(cat <<EOT
## pcp-agent serve vs pmproxy 6.0.3 (HTTP load, loopback)

Command: \`scripts/serve-bench.sh --write $DURATION\` — wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') from a second process,
\`wrk -t$THREADS -c$CONNS -d${DURATION}s --latency\`, against both servers in the same run, one after the other
(release build; $NCPU CPUs: $CPU; wrk and the server share them).

- serve: \`pcp-agent --agents $AGENTS serve --max-connections 64\`, metrics \`$OURS\`
- pmproxy: \`pmproxy -f -A\` in front of the system pmcd (PCP's pmdalinux), metrics \`$THEIRS\`
- "ok req/s" counts 2xx answers only; "errors" are non-2xx answers plus socket errors over the run
  ("+crashed": pmproxy died during the run, SIGSEGV in 6.0.3; each pmproxy run uses a fresh pmproxy process,
  and the seconds after a crash count as no answers, so its req/s understates its speed before the crash).
- Without a context pmproxy opens a new pmcd context per request (as for a Prometheus scrape);
  /pmapi/fetch uses one context created beforehand, as Grafana does.

$TABLE

$(if [ "$AGENTS" != linux ]; then echo "Our linux agent was not available in this run: our side served the simple agent's metrics of the same roles (an instance-domain gauge, a singular metric, a counter), read in-process; pmproxy's side goes through pmcd and pmdalinux (/proc reads)."; fi)
EOT
)

echo "$SECTION"
if [ "$WRITE" = 1 ]; then
    printf '%s\n' "$SECTION" >serve-BENCHMARKS.md
    echo "wrote serve-BENCHMARKS.md" >&2
fi
