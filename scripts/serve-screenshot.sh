#!/usr/bin/env bash
# Regenerates docs/serve-screenshot.png: headless Chromium on the page of
# `pcp-agent serve` (our linux agent's metrics when available), through the
# same test that checks the page in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PCP_AGENT_UPDATE_SCREENSHOT=1 cargo test -p pcp-agent --test serve_chromium -- \
    headless_chromium_shows_live_values_and_sparklines
echo "wrote docs/serve-screenshot.png"
