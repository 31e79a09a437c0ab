#!/usr/bin/env bash
# Installs and starts the real systems the tests talk to: PCP's pmcd (with
# its reference agents), bpftrace (with tracefs mounted), Prometheus's
# node_exporter and Prometheus server on 127.0.0.1, redis-server; PCP's QA
# files (pcp-testsuite: the /proc and /sys trees of real machines that
# pmda-linux's tests read with PCP's pmdalinux and with ours); podman with
# runc and busybox (pmda-proc's container tests run a real container); Go
# (for `go tool pprof`, the judge of the profiler's pprof files), gcc, g++
# and binutils (the profiler tests build and strip their workloads).
# Idempotent: what is installed or running already is left alone.
set -euo pipefail

log() { printf 'setup: %s\n' "$*"; }

# The packages the tests use, one per line (so additions merge cleanly);
# REQUIRED are those without which setup fails.
PKGS=(
  pcp
  python3-pcp
  python3-requests
  python3-prometheus-client
  pcp-testsuite
  bpftrace
  prometheus-node-exporter
  prometheus
  redis-server
  curl
  monitoring-plugins-basic
  nagios4-core
  iproute2
  util-linux
  golang-go
  gcc
  g++
  binutils
  podman
  runc
  busybox-static
)
REQUIRED=(
  pcp
  pcp-testsuite
  python3-prometheus-client
  bpftrace
  prometheus-node-exporter
  prometheus
  monitoring-plugins-basic
  nagios4-core
  iproute2
  util-linux
  golang-go
  gcc
  g++
  binutils
  podman
  runc
  busybox-static
)

need_pkgs=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done

# pcp's post-install calls systemctl, which fails without systemd: a no-op
# shim first on PATH lets dpkg finish configuring.
shim=$(mktemp -d)
printf '#!/bin/sh\nexit 0\n' >"$shim/systemctl"
chmod +x "$shim/systemctl"
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  PATH="$shim:$PATH" apt-get update -q >/dev/null
  PATH="$shim:$PATH" apt-get install -y -q "${need_pkgs[@]}" >/tmp/pcp-agent-apt.log 2>&1 || true
fi
PATH="$shim:$PATH" dpkg --configure -a >/dev/null 2>&1 || true
for p in "${REQUIRED[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || { log "package $p failed to install (see /tmp/pcp-agent-apt.log)"; exit 1; }
done

# tracefs for bpftrace's tracepoints.
if [ -d /sys/kernel/tracing ] && [ -z "$(ls -A /sys/kernel/tracing 2>/dev/null)" ]; then
  mount -t tracefs nodev /sys/kernel/tracing || log "could not mount tracefs"
fi

# pmcd, started by hand (no systemd here).
if ! pminfo -h local: pmcd.version >/dev/null 2>&1; then
  log "starting pmcd"
  mkdir -p /run/pcp /var/log/pcp/pmcd
  # No pmcd answers, so a socket left here is a dead pmcd's.
  rm -f /run/pcp/pmcd.socket
  (cd /var/lib/pcp/pmns && ./Rebuild >/dev/null 2>&1 || true)
  for attempt in 1 2; do
    (cd / && PATH=/usr/bin:/bin:/usr/sbin:/sbin setsid /usr/lib/pcp/bin/pmcd -f -l /var/log/pcp/pmcd/pmcd.log >/dev/null 2>&1 &)
    for _ in $(seq 1 50); do pminfo -h local: pmcd.version >/dev/null 2>&1 && break; sleep 0.2; done
    pminfo -h local: pmcd.version >/dev/null 2>&1 || { log "pmcd did not start"; exit 1; }
    for _ in $(seq 1 25); do [ -S /run/pcp/pmcd.socket ] && break; sleep 0.2; done
    [ -S /run/pcp/pmcd.socket ] && break
    # The pmcd started here came up without its unix socket (seen once
    # after a stale socket file): it is ours, so start it again.
    [ "$attempt" = 1 ] || break
    log "pmcd started without its unix socket; starting it again"
    pid=$(pgrep -x -f '/usr/lib/pcp/bin/pmcd -f -l /var/log/pcp/pmcd/pmcd.log' | head -1)
    [ -n "$pid" ] && kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f /run/pcp/pmcd.socket
  done
fi
# Clients reach pmcd over its unix socket when it has one (pmcd then adds
# the userid/groupid context labels, and pmdaproc answers root's
# per-process figures), else over TCP. On a fresh CI machine, a pmcd
# started without its socket (no /run/pcp when the package's script ran)
# is restarted with it; elsewhere it is only reported.
if [ ! -S /run/pcp/pmcd.socket ] && [ "${CI:-}" = true ]; then
  log "restarting pmcd with its unix socket"
  pkill -x pmcd || true
  for _ in $(seq 1 50); do pgrep -x pmcd >/dev/null || break; sleep 0.2; done
  mkdir -p /run/pcp
  (cd / && PATH=/usr/bin:/bin:/usr/sbin:/sbin setsid /usr/lib/pcp/bin/pmcd -f -l /var/log/pcp/pmcd/pmcd.log >/dev/null 2>&1 &)
  for _ in $(seq 1 50); do [ -S /run/pcp/pmcd.socket ] && pminfo -h local: pmcd.version >/dev/null 2>&1 && break; sleep 0.2; done
fi
if [ -S /run/pcp/pmcd.socket ]; then
  log "pmcd: $(pgrep -a -x pmcd | head -1); unix socket /run/pcp/pmcd.socket"
else
  log "pmcd: $(pgrep -a -x pmcd | head -1); no unix socket at /run/pcp/pmcd.socket, local clients use TCP"
fi
# Whether a client with no -h gets its credentials to pmcd (pmcd then adds
# userid/groupid labels and pmdalinux gives root its root-only figures).
if pminfo -l pmcd.version 2>/dev/null | grep -q '"userid"'; then
  log "pminfo without -h reaches pmcd with credentials ($(id -un))"
else
  log "pminfo without -h reaches pmcd without credentials (PCP_HOST=${PCP_HOST:-unset}, PMCD_HOST=${PMCD_HOST:-unset})"
fi

# node_exporter on 127.0.0.1:9100.
if ! curl -fsS -o /dev/null http://127.0.0.1:9100/metrics 2>/dev/null; then
  log "starting node_exporter"
  (setsid prometheus-node-exporter --web.listen-address=127.0.0.1:9100 >/tmp/node_exporter.log 2>&1 &)
fi

# Prometheus server on 127.0.0.1:9090, scraping itself only.
if ! curl -fsS -o /dev/null http://127.0.0.1:9090/metrics 2>/dev/null; then
  log "starting prometheus"
  mkdir -p /tmp/pcp-agent-prometheus
  cat >/tmp/pcp-agent-prometheus/prometheus.yml <<'YML'
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ['127.0.0.1:9090']
YML
  (setsid prometheus --config.file=/tmp/pcp-agent-prometheus/prometheus.yml \
     --storage.tsdb.path=/tmp/pcp-agent-prometheus/data \
     --web.listen-address=127.0.0.1:9090 >/tmp/prometheus.log 2>&1 &)
fi

for url in http://127.0.0.1:9100/metrics http://127.0.0.1:9090/metrics; do
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "$url" 2>/dev/null && break; sleep 0.2; done
  curl -fsS -o /dev/null "$url" || { log "$url is not answering"; exit 1; }
done
log "pmcd, bpftrace, node_exporter (127.0.0.1:9100) and prometheus (127.0.0.1:9090) are ready"
