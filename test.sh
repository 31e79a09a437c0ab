#!/usr/bin/env bash
# The whole test suite: installs and starts the real systems the tests
# need (scripts/setup-systems.sh: pmcd, bpftrace, node_exporter,
# Prometheus; scripts/serve-setup.sh: chromium, wrk), then checks
# formatting and lints and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup-systems.sh
./scripts/serve-setup.sh
export PCP_AGENT_NODE_EXPORTER_URL=http://127.0.0.1:9100/metrics
export PCP_AGENT_PROMETHEUS_URL=http://127.0.0.1:9090/metrics
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Benches are built by clippy above; they are run by `cargo bench`, not here.
# --no-fail-fast: every failing test binary is reported, not just the first.
cargo test --no-fail-fast --workspace --lib --bins --tests --examples
cargo test --workspace --doc
