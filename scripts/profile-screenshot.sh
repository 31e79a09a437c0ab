#!/usr/bin/env bash
# Regenerates docs/profile-flamegraph.png: headless Chromium on the
# flame-graph page of `pcp-agent serve --profile` profiling a Rust
# workload, through the same test that checks the page (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
PCP_AGENT_UPDATE_SCREENSHOT=1 cargo test -p pcp-agent --test profile_serve -- \
    serve_profile_pages_pprof_flame_graph_diff_and_push
echo "wrote docs/profile-flamegraph.png"
