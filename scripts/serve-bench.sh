#!/usr/bin/env bash
# Load test of `pcp-agent serve` against real pmproxy 6.0.3, in the same
# run, from a second process on loopback (wrk): requests per second and p99
# latency of /metrics and /pmapi/fetch on the same metrics, three rounds
# (each server's turn alternating within a round), reported as median and
# min-max; then the same small /metrics scrape while 1,000 other
# connections each hold half a request head (scripts/slow-heads.py).
#
#   scripts/serve-bench.sh [--write] [DURATION_SECONDS]
#
# --write replaces serve-BENCHMARKS.md with the tables. Needs: wrk
# (scripts/serve-setup.sh), pmproxy and a running pmcd (scripts/setup-systems.sh).
#
# Metrics, the same names on both sides: pmproxy serves PCP's pmdalinux
# through pmcd, we serve our linux agent in-process. A small set
# (kernel.all.load, hinv.ncpu, kernel.all.cpu.user) and a large one: the
# kernel.all and disk.dev subtrees (/metrics takes the two prefixes, as a
# scrape config would; /pmapi/fetch takes every leaf name both sides
# serve). Without our linux agent the small set falls back to the simple
# agent's metrics of the same roles and the large set is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

WRITE=0
if [ "${1:-}" = "--write" ]; then WRITE=1; shift; fi
DURATION="${1:-10}"
THREADS=2
CONNS=16
ROUNDS=3
SLOW_HEADS=1000
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
    for _ in $(seq 1 400); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2; return 1
}

THEIRS="kernel.all.load,hinv.ncpu,kernel.all.cpu.user"
if "$BIN" --agents linux info kernel.all.load >/dev/null 2>&1; then
    AGENTS=linux
    OURS="$THEIRS"
    # The large set: every leaf under kernel.all and disk.dev that both
    # sides serve (pmcd also lists libpcp's derived metrics, and pmdalinux
    # a few utmp counts we do not have).
    LARGE_PREFIXES="kernel.all,disk.dev"
    LARGE=$(comm -12 <("$BIN" --agents linux info kernel.all disk.dev 2>/dev/null | sort) \
        <(pminfo kernel.all disk.dev 2>/dev/null | sort) | paste -sd,)
else
    AGENTS=simple
    OURS="simple.color,simple.numfetch,simple.time.user"
    LARGE=
fi
NLARGE=$(tr ',' '\n' <<<"$LARGE" | grep -c . || true)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

SERVE_PORT=$(free_port)
"$BIN" --agents "$AGENTS" serve --listen "127.0.0.1:$SERVE_PORT" --max-connections 64 \
    2>"$SCRATCH/serve.log" &
SERVE_PID=$!

# A context as clients (Grafana) keep one; without it pmproxy opens a new
# pmcd context for every request.
ctx() { curl -sf "http://127.0.0.1:$1/pmapi/context?polltimeout=600" | python3 -c 'import json,sys; print(json.load(sys.stdin)["context"])'; }

# pmproxy 6.0.3 can crash under this load (seen: SIGSEGV during
# /pmapi/fetch), so each of its runs gets a fresh process; a crash is
# reported in the errors column.
PROXY_PID=
start_proxy() { # WARM_NAMES WARM_PREFIXES
    PROXY_PORT=$(free_port)
    # Runs happen in subshells: the port names this process's files.
    PROXY_N=$PROXY_PORT
    mkdir -p "$SCRATCH/run$PROXY_N"
    local args=(-f -A -i 127.0.0.1 -p "$PROXY_PORT" -s "$SCRATCH/pmproxy$PROXY_N.socket"
        -l "$SCRATCH/pmproxy$PROXY_N.log" -x "$SCRATCH/pmproxy$PROXY_N.fatal")
    [ "$(id -u)" = 0 ] && args+=(-U root)
    PCP_RUN_DIR="$SCRATCH/run$PROXY_N" "$PMPROXY" "${args[@]}" >/dev/null 2>&1 &
    PROXY_PID=$!
    wait_port "$PROXY_PORT"
    sleep 0.5
    TCTX=$(ctx "$PROXY_PORT")
    # Warm it (pmproxy caches metadata per context).
    curl -sf "http://127.0.0.1:$PROXY_PORT/pmapi/fetch?context=$TCTX&names=$1" >/dev/null
    curl -sf "http://127.0.0.1:$PROXY_PORT/metrics?context=$TCTX&names=$2" >/dev/null
    curl -sf "http://127.0.0.1:$PROXY_PORT/metrics?names=$2" >/dev/null
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
OCTX=$(ctx "$SERVE_PORT")

# run NAME URL -> "ok_rps p99_ms errors": ok_rps counts 2xx answers only
# (an overloaded server answering errors fast must not look faster).
run() {
    local out
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$2")
    echo "$out" >"$SCRATCH/$1.wrk"
    local rps p99 total bad sock ok
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    bad=${bad:-0}
    ok=$(python3 -c "import sys; r,t,b=map(float,sys.argv[1:]); print(f'{r*max(t-b,0)/t:.0f}' if t else '0')" "${rps:-0}" "${total:-0}" "$bad")
    # Socket errors (refused, reset) are not requests: add them after.
    sock=$(awk '/Socket errors:/ {gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out")
    bad=$((bad + ${sock:-0}))
    echo "$ok ${p99:-n/a} $bad"
}

declare -A R S
# run_proxy NAME PATH WARM_NAMES WARM_PREFIXES (PATH may use @CTX@): a
# fresh pmproxy per run. A run during which pmproxy crashed is retried (up
# to 3 runs) so the figures show its speed while it was up; if every run
# crashed, the last one's 2xx answers are divided by the seconds pmproxy
# was up (a watcher notes when the process died), not by the whole run.
run_proxy() {
    local path r a b c crashes=0 try t0 died up
    for try in 1 2 3; do
        start_proxy "$3" "$4"
        path=${2//@CTX@/$TCTX}
        rm -f "$SCRATCH/died"
        t0=$(date +%s.%N)
        ( while kill -0 "$PROXY_PID" 2>/dev/null; do sleep 0.05; done; date +%s.%N >"$SCRATCH/died" ) &
        local watcher=$!
        r=$(run "$1-$try" "http://127.0.0.1:$PROXY_PORT$path")
        if kill -0 "$PROXY_PID" 2>/dev/null; then
            stop_proxy
            wait "$watcher" 2>/dev/null || true
            break
        fi
        wait "$watcher" 2>/dev/null || true
        stop_proxy
        crashes=$((crashes + 1))
        echo "pmproxy crashed during $1 (run $try)" >&2
    done
    read -r a b c <<<"$r"
    if [ "$crashes" -eq 3 ]; then
        died=$(cat "$SCRATCH/died" 2>/dev/null || echo "$t0")
        up=$(python3 -c "import sys; print(f'{max(float(sys.argv[2])-float(sys.argv[1]),0.05):.1f}')" "$t0" "$died")
        a=$(python3 -c "import sys; a,d,u=map(float,sys.argv[1:]); print(f'{a*d/u:.0f}')" "$a" "$DURATION" "$up")
        r="$a ${b:-n/a} crashed×3;_up_${up}_s"
    elif [ "$crashes" -gt 0 ]; then
        r="$a ${b:-n/a} ${c}+crashed×$crashes"
    fi
    echo "$r"
}

# The answers' sizes: sample lines (or fetched values) and bytes.
text_size() { # URL -> "samples bytes"
    curl -sf "$1" >"$SCRATCH/answer" || { echo "n/a n/a"; return; }
    echo "$(grep -vc '^#' "$SCRATCH/answer") $(wc -c <"$SCRATCH/answer")"
}
fetch_size() { # URL -> "values bytes"
    curl -sf "$1" >"$SCRATCH/answer" || { echo "n/a n/a"; return; }
    echo "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sum(len(v["instances"]) for v in j["values"]))' "$SCRATCH/answer") $(wc -c <"$SCRATCH/answer")"
}

# bench_set TAG OUR_NAMES THEIR_NAMES OUR_PREFIXES THEIR_PREFIXES ROUND:
# one round of the three endpoints on both servers (results under keys
# ending in the round number); the answers' sizes in round 1.
bench_set() {
    local t=$1 on=$2 tn=$3 op=$4 tp=$5 n=$6
    curl -sf "http://127.0.0.1:$SERVE_PORT/pmapi/fetch?context=$OCTX&names=$on" >/dev/null
    curl -sf "http://127.0.0.1:$SERVE_PORT/metrics?names=$op" >/dev/null
    R[${t}of$n]=$(run "ours-fetch-$t-$n" "http://127.0.0.1:$SERVE_PORT/pmapi/fetch?context=$OCTX&names=$on")
    R[${t}tf$n]=$(run_proxy "pmproxy-fetch-$t-$n" "/pmapi/fetch?context=@CTX@&names=$tn" "$tn" "$tp")
    R[${t}omc$n]=$(run "ours-metrics-ctx-$t-$n" "http://127.0.0.1:$SERVE_PORT/metrics?context=$OCTX&names=$op")
    R[${t}tmc$n]=$(run_proxy "pmproxy-metrics-ctx-$t-$n" "/metrics?context=@CTX@&names=$tp" "$tn" "$tp")
    R[${t}om$n]=$(run "ours-metrics-$t-$n" "http://127.0.0.1:$SERVE_PORT/metrics?names=$op")
    R[${t}tm$n]=$(run_proxy "pmproxy-metrics-$t-$n" "/metrics?names=$tp" "$tn" "$tp")
    [ "$n" = 1 ] || return 0
    start_proxy "$tn" "$tp"
    S[${t}of]=$(fetch_size "http://127.0.0.1:$SERVE_PORT/pmapi/fetch?names=$on")
    cp "$SCRATCH/answer" "$SCRATCH/ours-$t.json"
    S[${t}tf]=$(fetch_size "http://127.0.0.1:$PROXY_PORT/pmapi/fetch?names=$tn")
    cp "$SCRATCH/answer" "$SCRATCH/theirs-$t.json"
    # Metrics whose number of values differs (same names only).
    if [ "$on" = "$tn" ]; then
        S[${t}diff]=$(python3 - "$SCRATCH/ours-$t.json" "$SCRATCH/theirs-$t.json" <<'PY'
import json, subprocess, sys
o, t = (json.load(open(f)) for f in sys.argv[1:3])
def pminfo(n):
    try:
        out = subprocess.run(["pminfo", "-f", n], capture_output=True, text=True, timeout=10).stdout
    except Exception as e:
        return str(e)
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    return " / ".join(lines[1:]) or "nothing"
oc = {v["name"]: v["instances"] for v in o["values"]}
tc = {v["name"]: v["instances"] for v in t["values"]}
for n in sorted(set(oc) | set(tc)):
    a, b = oc.get(n, []), tc.get(n, [])
    if len(a) != len(b):
        print(f"{n}: {len(a)} from serve {json.dumps(a)}, {len(b)} from pmproxy {json.dumps(b)}; "
              f"pminfo -f (pmcd): {pminfo(n)}")
PY
)
    fi
    S[${t}om]=$(text_size "http://127.0.0.1:$SERVE_PORT/metrics?names=$op")
    S[${t}tm]=$(text_size "http://127.0.0.1:$PROXY_PORT/metrics?names=$tp")
    stop_proxy
}
for n in $(seq 1 "$ROUNDS"); do
    bench_set s "$OURS" "$THEIRS" "$OURS" "$THEIRS" "$n"
    if [ -n "$LARGE" ]; then
        bench_set l "$LARGE" "$LARGE" "$LARGE_PREFIXES" "$LARGE_PREFIXES" "$n"
    fi
done

# Under SLOW_HEADS connections that each hold half a request head (and
# come back when cut): the small /metrics scrape on each server, ROUNDS
# times, with a context (pmproxy's context-less path fails under wrk's
# load by itself, which would hide what the slow heads do).
slow_run() { # NAME URL PORT [PID] -> "ok_rps p99_ms errors slow_connections_held"
    python3 scripts/slow-heads.py 127.0.0.1 "$3" "$SLOW_HEADS" "$((DURATION + 5))" \
        >"$SCRATCH/$1.slow" 2>&1 &
    local holder=$!
    sleep 3
    local ok p99 err
    read -r ok p99 err <<<"$(run "$1" "$2")"
    # A server that died during the run (pmproxy) says so in its errors.
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then err="${err}+crashed"; fi
    kill "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    echo "$ok $p99 $err $(awk '/^open/ {print $2}' "$SCRATCH/$1.slow" | sort -n | head -1)"
}
for n in $(seq 1 "$ROUNDS"); do
    R[hom$n]=$(slow_run "ours-slow-$n" "http://127.0.0.1:$SERVE_PORT/metrics?context=$OCTX&names=$OURS" "$SERVE_PORT")
    start_proxy "$THEIRS" "$THEIRS"
    R[htm$n]=$(slow_run "pmproxy-slow-$n" "http://127.0.0.1:$PROXY_PORT/metrics?context=$TCTX&names=$THEIRS" "$PROXY_PORT" "$PROXY_PID")
    stop_proxy
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
kill -0 "$SERVE_PID" 2>/dev/null || { echo "pcp-agent serve died:" >&2; cat "$SCRATCH/serve.log" >&2; exit 1; }

# row LABEL OURS_KEY THEIRS_KEY GROUP: the rounds' figures as median
# (min-max); the ratio is taken per round, then summarised. The rounds'
# figures also go to $SCRATCH/summary as a `SUMMARY {json}` line (group
# GROUP) for scripts/bench-summary.sh, printed after the section.
row() {
    local ours=() theirs=() n
    for n in $(seq 1 "$ROUNDS"); do ours+=("${R[$2$n]}"); theirs+=("${R[$3$n]}"); done
    python3 - "$1" "$ROUNDS" "$4" "$SCRATCH/summary" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, statistics, sys
label, rounds, group, summary_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ours, theirs = sys.argv[5:5 + rounds], sys.argv[5 + rounds:5 + 2 * rounds]
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
def summary(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    return f"{fmt(m)} ({fmt(min(vals))}–{fmt(max(vals))})"
def col(runs, i):
    return [num(r.split()[i]) if len(r.split()) > i else None for r in runs]
whole = lambda v: f"{v:.0f}"
two = lambda v: f"{v:.2f}"
ratios = [o / t if o is not None and t else None for o, t in zip(col(ours, 0), col(theirs, 0))]
none = sum(1 for r in ratios if r is None)
ratio_note = f"; no ratio in {none} of {rounds} rounds (pmproxy: no 2xx answer)" if none else ""
errs = lambda runs: " / ".join((r.split()[2] if len(r.split()) > 2 else "n/a").replace("_", " ") for r in runs)
print(f"| {label} | {summary(col(ours, 0), whole)} | {summary(col(ours, 1), two)} | {errs(ours)} "
      f"| {summary(col(theirs, 0), whole)} | {summary(col(theirs, 1), two)} | {errs(theirs)} "
      f"| {summary(ratios, lambda v: f'{v:.2f}x')}{ratio_note} |")
known = lambda xs: [x for x in xs if x is not None]
p99 = lambda runs: statistics.median(known(col(runs, 1)) or [float("nan")])
with open(summary_file, "a") as f:
    f.write("SUMMARY " + json.dumps(dict(
        group=group, what="HTTP, " + label, ours=known(col(ours, 0)), unit="req/s",
        ref="pmproxy 6.0.3 + pmcd + pmdalinux", ref_value=known(col(theirs, 0)),
        ratio=known(ratios), ratio_text="x",
        note=f"p99 {p99(ours):.2f} ms (pmproxy {p99(theirs):.2f} ms); errors {errs(ours)} "
             f"(pmproxy {errs(theirs)})")) + "\n")
PY
}
rows_of() { # TAG LABEL
    row "$2: /pmapi/fetch?context=N&names=…" "${1}of" "${1}tf" "serve-$2-fetch"
    row "$2: /metrics?context=N&names=…" "${1}omc" "${1}tmc" "serve-$2-metrics-context"
    row "$2: /metrics?names=… (no context, as Prometheus scrapes)" "${1}om" "${1}tm" "serve-$2-metrics"
}
sizes_of() { # TAG LABEL
    local a b c d
    read -r a b <<<"${S[${1}of]}"; read -r c d <<<"${S[${1}tf]}"
    echo "| $2: /pmapi/fetch | $a values, $b bytes | $c values, $d bytes |"
    read -r a b <<<"${S[${1}om]}"; read -r c d <<<"${S[${1}tm]}"
    echo "| $2: /metrics | $a samples, $b bytes | $c samples, $d bytes |"
}

TABLE=$(
    echo "| endpoint | serve ok req/s | serve p99 ms | serve errors | pmproxy ok req/s | pmproxy p99 ms | pmproxy errors | serve / pmproxy |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    rows_of s small
    if [ -n "$LARGE" ]; then rows_of l large; fi
    row "small: /metrics?context=N&names=… while $SLOW_HEADS connections hold half a head" hom htm serve-small-slow-heads
)
held() { # KEY -> the fewest slow connections held open at once, per round
    local n out=()
    for n in $(seq 1 "$ROUNDS"); do out+=("$(awk '{print $4}' <<<"${R[$1$n]}")"); done
    echo "${out[*]}"
}
SIZES=$(
    echo "| answer | serve | pmproxy |"
    echo "|---|---|---|"
    sizes_of s small
    if [ -n "$LARGE" ]; then sizes_of l large; fi
)

CPU=$(awk -F: '/model name/ {gsub(/^ +/,"",$2); print $2; exit}' /proc/cpuinfo)
NCPU=$(nproc)
BT='`'
SECTION=$(
    echo "## pcp-agent serve vs pmproxy 6.0.3 (HTTP load, loopback)"
    echo
    echo "Command: ${BT}scripts/serve-bench.sh --write $DURATION${BT}, run $(date -u +%Y-%m-%d) — wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') from a second process,"
    echo "${BT}wrk -t$THREADS -c$CONNS -d${DURATION}s --latency${BT}, against both servers in the same run, one after the other"
    echo "(release build; $NCPU CPUs: $CPU; wrk and the server share them)."
    echo
    echo "- serve: ${BT}pcp-agent --agents $AGENTS serve --max-connections 64${BT} (the agent runs in-process);"
    echo "  pmproxy: ${BT}pmproxy -f -A${BT} in front of the system pmcd and PCP's pmdalinux."
    echo "- small: ${BT}$OURS${BT} on our side, ${BT}$THEIRS${BT} on pmproxy's."
    if [ -n "$LARGE" ]; then
        echo "- large: the whole ${BT}kernel.all${BT} and ${BT}disk.dev${BT} subtrees: /metrics with the prefixes"
        echo "  ${BT}names=$LARGE_PREFIXES${BT} on both sides (pmdalinux also has kernel.all.nusers, nroots and nsessions,"
        echo "  which our agent does not); /pmapi/fetch with the $NLARGE leaf names under them that both sides serve."
    fi
    echo "- \"ok req/s\" counts 2xx answers only; \"errors\" are non-2xx answers plus socket errors over the run."
    echo "  pmproxy 6.0.3 crashes under this load now and then (SIGSEGV): each pmproxy run uses a fresh process, and a"
    echo "  run during which it crashed is thrown away and rerun, up to 3 runs; \"+crashed×N\" says how many runs were"
    echo "  lost so. If all 3 crashed (\"crashed×3; up T s\"), its req/s is the last run's 2xx answers over the T seconds"
    echo "  it was up, and its errors (refused connections after the crash) are not counted."
    echo "- Without a context pmproxy opens a new pmcd context per request (as for a Prometheus scrape);"
    echo "  the context= rows use one context created beforehand, as Grafana does."
    echo "- Each figure is the median of $ROUNDS rounds with the range (min–max) in brackets; the ratio is taken"
    echo "  per round. Errors are listed per round."
    echo "- The last row: while wrk scrapes, ${BT}scripts/slow-heads.py${BT} holds $SLOW_HEADS connections to the same server,"
    echo "  each having sent half a request head (${BT}GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n${BT}) and opening a new one"
    echo "  whenever the server closes it. Slow connections open at once (fewest seen per round): serve"
    echo "  $(held hom), pmproxy $(held htm) (0: the server stopped accepting; \"+crashed\": its process died"
    echo "  during the run). Here a pmproxy run that crashed is not rerun."
    echo "- The machine was shared with other builds and tests: load average $LOAD_BEFORE before the run,"
    echo "  $LOAD_AFTER after; both servers took their turns under the same conditions, so compare ratios."
    echo
    echo "$TABLE"
    echo
    echo "Answer sizes (one request each, no context):"
    echo
    echo "$SIZES"
    for t in s l; do
        if [ -n "${S[${t}diff]:-}" ]; then
            echo
            echo "Fetched values that differ in number (same names, same moment):"
            echo
            sed 's/^/- /' <<<"${S[${t}diff]}"
        fi
    done
    if [ "$AGENTS" != linux ]; then
        echo
        echo "Our linux agent was not available in this run: our side served the simple agent's metrics of the"
        echo "same roles (an instance-domain gauge, a singular metric, a counter), read in-process; pmproxy's side"
        echo "goes through pmcd and pmdalinux (/proc reads)."
    fi
)

echo "$SECTION"
cat "$SCRATCH/summary"
if [ "$WRITE" = 1 ]; then
    printf '%s\n' "$SECTION" >serve-BENCHMARKS.md
    echo "wrote serve-BENCHMARKS.md" >&2
fi
