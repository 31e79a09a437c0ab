#!/bin/sh
# Records PCP 6.0.3's own clients talking to a real, private pmcd that
# hosts our agents (pcp-agent pmda simple, pcp-agent pmda linux) and its
# own pmcd.* agent, through scripts/pdu-capture.py, one transcript per
# scenario in tests/fixtures/pmcd-clients/ (or OUTDIR). The replay test
# (tests/pmcd_client_replay.rs) sends each client PDU to `pcp-agent pmcd`
# and compares every reply with pmcd's.
#
# The system pmcd is never touched: the private one has its own port,
# socket, config, PMNS and run directories under a scratch directory.
# No client asks for help text of pmcd.* metrics, so the transcripts hold
# only our agents' text.
#
# usage: scripts/capture-pmcd-clients.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-tests/fixtures/pmcd-clients}
BIN=$PWD/target/debug/pcp-agent
CAP=$PWD/scripts/pdu-capture.py
cargo build -q -p pcp-agent
SCR=$(mktemp -d /tmp/pcp-agent-capture.XXXXXX)
PMCD_PORT=44390
RELAY_PORT=44391
trap 'kill $(cat $SCR/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf $SCR' EXIT
mkdir -p "$SCR/run" "$SCR/log" "$SCR/tmp" "$SCR/var/config/pmda" "$SCR/state-simple" "$SCR/state-linux" "$OUT"

# A PMNS with pmcd's own subtree and our agents' dynamic roots.
{
    printf 'root {\n\tpmcd\n\tsimple\t253:*:*\n'
    for n in $($BIN --agents linux --state-dir "$SCR/state-linux" info 2>/dev/null | cut -d. -f1 | sort -u); do
        printf '\t%s\t60:*:*\n' "$n"
    done
    printf '}\n'
    sed -n '/^#ifndef PMCD/,$p' /usr/lib/pcp/pmns/root_pmcd
} >"$SCR/root"
cat >"$SCR/pmcd.conf" <<EOF
pmcd	2	dso	pmcd_init	/var/lib/pcp/pmdas/pmcd/pmda_pmcd.so
simple	253	pipe	binary	$BIN --state-dir $SCR/state-simple pmda simple
linux	60	pipe	binary	$BIN --state-dir $SCR/state-linux --agents linux pmda linux

[access]
allow ".*" : all;
allow ":*" : all;
EOF
env PCP_VAR_DIR="$SCR/var" PCP_TMP_DIR="$SCR/tmp" PCP_RUN_DIR="$SCR/run" PCP_LOG_DIR="$SCR/log" \
    PMCD_ROOT_AGENT=0 PMCD_RESTART_AGENTS=0 \
    /usr/lib/pcp/bin/pmcd -f -A -U root -c "$SCR/pmcd.conf" -n "$SCR/root" \
    -p $PMCD_PORT -s "$SCR/pmcd.socket" -l "$SCR/pmcd.log" </dev/null >/dev/null 2>&1 &
echo $! >"$SCR/pmcd.pid"
sleep 2
H=127.0.0.1:$RELAY_PORT
export PCP_DERIVED_CONFIG=
export PATH=/usr/bin:/bin

# capture NAME LISTEN UPSTREAM COMMAND...: one scenario, every connection
# of it in one transcript.
capture() {
    name=$1 listen=$2 upstream=$3
    shift 3
    rm -rf "$SCR/cap"
    python3 "$CAP" "$listen" "$upstream" "$SCR/cap" "$*" 2>/dev/null &
    echo $! >"$SCR/relay.pid"
    sleep 0.5
    "$@" >"$SCR/$name.out" 2>&1 || true
    sleep 0.3
    kill "$(cat "$SCR/relay.pid")" 2>/dev/null || true
    rm -f "$SCR/relay.pid"
    {
        echo "# $name: PCP 6.0.3 client <-> pmcd 6.0.3 hosting pcp-agent's simple and linux agents"
        echo "# recorded by scripts/capture-pmcd-clients.sh; > client to pmcd, < pmcd to client"
        for f in "$SCR"/cap/conn*.pdus; do
            echo "# connection"
            grep -v '^# client:' "$f"
        done
    } >"$OUT/$name.pdus"
    echo "$name: $(grep -c '^[<>]' "$OUT/$name.pdus") PDUs"
}
UP=127.0.0.1:$PMCD_PORT

capture pminfo-simple 127.0.0.1:$RELAY_PORT $UP pminfo -h $H -dfmtTl simple
capture pminfo-errors 127.0.0.1:$RELAY_PORT $UP pminfo -h $H -f no.such.metric simple.nosuch simple pmcd.nothing
capture pminfo-pmcd 127.0.0.1:$RELAY_PORT $UP pminfo -h $H -dmf pmcd.numagents pmcd.agent.name pmcd.feature.containers
capture pminfo-container 127.0.0.1:$RELAY_PORT $UP pminfo -h $H --container=web1 -fl simple.version
capture pminfo-unix unix:$SCR/relay.sock unix:$SCR/pmcd.socket pminfo -h unix:$SCR/relay.sock -fl simple.version
capture pmval 127.0.0.1:$RELAY_PORT $UP pmval -h $H -s 2 -t 0.2 -i red,blue simple.color
capture pmprobe 127.0.0.1:$RELAY_PORT $UP pmprobe -h $H -v simple pmcd.numclients kernel.all.load
capture pmprobe-instances 127.0.0.1:$RELAY_PORT $UP pmprobe -h $H -I simple
capture pmstore 127.0.0.1:$RELAY_PORT $UP pmstore -h $H simple.numfetch 42
capture pmstore-readonly 127.0.0.1:$RELAY_PORT $UP pmstore -h $H simple.version x
cat >"$SCR/pmapi.py" <<'EOF'
import sys
from pcp import pmapi
import cpmapi as c
ctx = pmapi.pmContext(c.PM_CONTEXT_HOST, sys.argv[1])
pmids = ctx.pmLookupName(("simple.color", "simple.version", "simple.numfetch"))
descs = ctx.pmLookupDescs(pmids)
ctx.pmFetch(pmids)
ctx.pmGetInDom(descs[0])
ctx.pmLookupText(pmids[0])
ctx.pmLookupLabels(pmids[0])
ctx.pmGetChildren("simple")
ctx.pmNameAll(pmids[1])
ctx.pmGetContextHostName()
EOF
capture python-pmapi 127.0.0.1:$RELAY_PORT $UP /usr/bin/python3 "$SCR/pmapi.py" $H
capture pmrep-vmstat 127.0.0.1:$RELAY_PORT $UP /usr/bin/python3 /usr/bin/pmrep -h $H -s 2 -t 0.5 :vmstat
cat >"$SCR/logger.conf" <<'EOF'
log mandatory on every 1 second {
    simple.color
    simple.numfetch
    kernel.all.load
}
EOF
capture pmlogger 127.0.0.1:$RELAY_PORT $UP env PCP_RUN_DIR="$SCR/run" PCP_TMP_DIR="$SCR/tmp" \
    pmlogger -h $H -c "$SCR/logger.conf" -l "$SCR/logger.log" -s 2 "$SCR/arch"

# pmproxy (private, its own port and socket) reaching pmcd through the relay.
PXY_PORT=44392
mkdir -p "$SCR/pxy"
rm -rf "$SCR/cap"
python3 "$CAP" 127.0.0.1:$RELAY_PORT $UP "$SCR/cap" pmproxy 2>/dev/null &
echo $! >"$SCR/relay.pid"
/usr/lib/pcp/bin/pmproxy -f -A -U root -i 127.0.0.1 -p $PXY_PORT -s "$SCR/pxy/pmproxy.socket" \
    -l "$SCR/pxy/pmproxy.log" -x "$SCR/pxy/fatal" </dev/null >/dev/null 2>&1 &
echo $! >"$SCR/pmproxy.pid"
sleep 1.5
curl -s "http://127.0.0.1:$PXY_PORT/pmapi/fetch?hostspec=$H&names=simple.color,simple.version" >/dev/null
curl -s "http://127.0.0.1:$PXY_PORT/metrics?hostspec=$H&names=simple" >/dev/null
sleep 0.5
kill "$(cat "$SCR/pmproxy.pid")" "$(cat "$SCR/relay.pid")" 2>/dev/null || true
rm -f "$SCR/pmproxy.pid" "$SCR/relay.pid"
{
    echo "# pmproxy: pmproxy 6.0.3 (/pmapi/fetch, /metrics) <-> pmcd 6.0.3 hosting pcp-agent's simple and linux agents"
    echo "# recorded by scripts/capture-pmcd-clients.sh; > client to pmcd, < pmcd to client"
    for f in "$SCR"/cap/conn*.pdus; do
        echo "# connection"
        grep -v '^# client:' "$f"
    done
} >"$OUT/pmproxy.pdus"
echo "pmproxy: $(grep -c '^[<>]' "$OUT/pmproxy.pdus") PDUs"
