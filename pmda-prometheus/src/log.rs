//! The agent's log: one line per event on standard error (which pmcd
//! points at the PMDA log file), PCP-style: `[date] root(pid) Level: text`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static DEBUG: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);

/// Leaves out informational lines (errors and warnings still show): for
/// interactive commands, where the agent's start-up chatter is noise.
pub fn set_quiet(on: bool) {
    QUIET.store(on, Ordering::Relaxed);
}

/// Turns debug logging on or off (`-D`, `ROOT.control.debug`).
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

/// True when debug logging is on.
pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong but work goes on.
    Warning,
    /// Normal information.
    Info,
    /// Only with debugging on.
    Debug,
}

fn stamp() -> String {
    let mut t: libc::time_t = 0;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 64];
    // SAFETY: valid pointers; strftime writes at most buf.len() bytes.
    let n = unsafe {
        libc::time(&mut t);
        libc::localtime_r(&t, &mut tm);
        libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a %b %e %H:%M:%S".as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Writes one log line (debug lines only when debugging is on).
pub fn log(level: Level, root: &str, msg: &str) {
    if level == Level::Debug && !debug_enabled() {
        return;
    }
    if level == Level::Info && QUIET.load(Ordering::Relaxed) {
        return;
    }
    let word = match level {
        Level::Error => "Error",
        Level::Warning => "Warning",
        Level::Info => "Info",
        Level::Debug => "Debug",
    };
    let line = format!(
        "[{}] pmda{}({}) {}: {}\n",
        stamp(),
        root,
        std::process::id(),
        word,
        msg.trim_end()
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
