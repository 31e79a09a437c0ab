//! Helpers for tests that need a real external system (pmcd, bpftrace, an
//! HTTP endpoint), and [`check_agent`] for any agent.
//!
//! A missing system fails the test that needs it, unless skipping was
//! asked for: under CI (`CI=true`) it always fails; `./test.sh` fails too
//! (it sets `PCP_AGENT_REQUIRE_SYSTEMS=1`) unless run as
//! `./test.sh --allow-missing` (or with `PCP_AGENT_ALLOW_MISSING=1`); a
//! plain `cargo test` skips. A skipped test says so on standard error
//! where `cargo test` shows it even for a passing test, and is appended to
//! the file `PCP_AGENT_SKIP_LOG` names (from which `./test.sh` prints the
//! count of skipped tests at the end of every run).

pub use crate::check::{
    check_agent, check_agent_with, CheckFailed, CheckOptions, CheckReport, Violation,
};

/// True when running under CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    flag("CI")
}

fn flag(var: &str) -> bool {
    std::env::var(var)
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// What happens to a test whose system is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The test fails (CI, `./test.sh`).
    Fail,
    /// The test is skipped, loudly (a plain `cargo test`, or
    /// `./test.sh --allow-missing`).
    Skip,
}

/// The policy for missing systems, from the environment: [`Missing::Fail`]
/// under CI, or with `PCP_AGENT_REQUIRE_SYSTEMS=1` and without
/// `PCP_AGENT_ALLOW_MISSING=1`; [`Missing::Skip`] otherwise.
pub fn missing_policy() -> Missing {
    if in_ci() || (flag("PCP_AGENT_REQUIRE_SYSTEMS") && !flag("PCP_AGENT_ALLOW_MISSING")) {
        Missing::Fail
    } else {
        Missing::Skip
    }
}

/// Checks that an external system a test needs is there. Returns true if
/// the test should go on. If `available` is false, by [`missing_policy`]:
/// it panics with a one-line reason, or it reports the skip (standard
/// error, and the `PCP_AGENT_SKIP_LOG` file) and returns false.
///
/// ```
/// if !pcp_core::testing::require("pmcd", true, "pmcd is not running") { return; }
/// ```
pub fn require(system: &str, available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(str::to_string)
        .unwrap_or_else(|| std::env::args().next().unwrap_or_else(|| "a test".into()));
    match missing_policy() {
        Missing::Fail => panic!(
            "{system} is required but missing: {why} (to skip such tests instead: ./test.sh --allow-missing, or PCP_AGENT_ALLOW_MISSING=1)"
        ),
        Missing::Skip => {
            let line = format!("SKIPPED {test}: {system} missing: {why}\n");
            report_skip(&line);
            false
        }
    }
}

/// Writes a skip where people and `./test.sh` see it: straight to the
/// standard error descriptor (the test harness captures only `eprint!`,
/// and would hide it for a passing test) and to `PCP_AGENT_SKIP_LOG`.
fn report_skip(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("PCP_AGENT_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One write per line: appends from parallel tests stay whole.
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// True if `program` is found on PATH (or is an existing path).
pub fn have_program(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// True if something accepts TCP connections at `addr` (e.g. "127.0.0.1:9100").
pub fn port_open(addr: &str) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let Ok(mut addrs) = addr.to_socket_addrs() else {
        return false;
    };
    addrs.any(|a| TcpStream::connect_timeout(&a, std::time::Duration::from_millis(500)).is_ok())
}
