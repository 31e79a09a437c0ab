//! Helpers for tests that need a real external system (pmcd, bpftrace, an
//! HTTP endpoint): outside CI a missing system skips the test with a
//! message; with `CI=true` a missing system fails it.

/// True when running under CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Checks that an external system a test needs is there. Returns true if
/// the test should go on. If `available` is false: under CI it panics with
/// `why`; elsewhere it prints why the test is skipped and returns false.
///
/// ```
/// if !pcp_core::testing::require("pmcd", true, "pmcd is not running") { return; }
/// ```
pub fn require(system: &str, available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    if in_ci() {
        panic!("{system} is required under CI but missing: {why}");
    }
    eprintln!("skipping: {system} missing: {why}");
    false
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

pub use crate::check::{
    check_agent, check_agent_with, CheckFailed, CheckOptions, CheckReport, Violation,
};
