#!/usr/bin/env bash
# Installs what the `pcp-agent serve` tests and benchmark need beyond the
# base systems: Debian's chromium (headless page test) and wrk (load test).
# Idempotent; safe to run from CI setup. Prometheus and PCP (pmproxy) come
# from scripts/setup-systems.sh.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
if [ -x /usr/lib/pcp/bin/pmproxy ] || command -v pmproxy >/dev/null 2>&1; then :; else need+=(pcp); fi

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "serve-setup: need root to install: ${need[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

for p in chromium wrk prometheus; do
    command -v "$p" >/dev/null 2>&1 || { echo "serve-setup: $p still missing" >&2; exit 1; }
done
echo "serve-setup: chromium, wrk, prometheus and pmproxy are installed"
