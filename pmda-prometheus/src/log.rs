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

/// An unchanged warning is written again at most this often.
pub const REPEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Rate limiting for one recurring message (a source's status, say): a
/// new condition (`key`) is written at once; the same condition again only
/// after [`REPEAT_INTERVAL`], saying how many times it recurred meanwhile
/// (counts inside the text may change without making it new). The text
/// written is the text the control metrics show, so the log and the
/// metrics never disagree.
#[derive(Debug, Default)]
pub struct Repeats {
    last: String,
    written: Option<std::time::Instant>,
    suppressed: u64,
}

impl Repeats {
    /// Writes `text` unless condition `key` was written within the
    /// interval; returns true when a line was written.
    pub fn log(&mut self, level: Level, root: &str, key: &str, text: &str) -> bool {
        let now = std::time::Instant::now();
        let due = self
            .written
            .is_none_or(|t| now.duration_since(t) >= REPEAT_INTERVAL);
        if key == self.last && !due {
            self.suppressed += 1;
            return false;
        }
        if key == self.last && self.suppressed > 0 {
            log(
                level,
                root,
                &format!("{text} (again {} times since last said)", self.suppressed),
            );
        } else {
            log(level, root, text);
        }
        self.last.clear();
        self.last.push_str(key);
        self.written = Some(now);
        self.suppressed = 0;
        true
    }

    /// Forgets the last text (the condition cleared): the next occurrence
    /// is written at once.
    pub fn clear(&mut self) {
        self.last.clear();
        self.written = None;
        self.suppressed = 0;
    }

    /// True when a condition is being reported (a text was written and
    /// not cleared).
    pub fn active(&self) -> bool {
        !self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_written_once_per_interval() {
        let mut r = Repeats::default();
        assert!(r.log(Level::Debug, "t", "a", "a 1"));
        for i in 0..1000 {
            assert!(!r.log(Level::Debug, "t", "a", &format!("a {i}")));
        }
        assert!(r.log(Level::Debug, "t", "b", "b"), "a change is written");
        assert!(!r.log(Level::Debug, "t", "b", "b"));
        r.clear();
        assert!(
            r.log(Level::Debug, "t", "b", "b"),
            "after clearing, written again"
        );
        r.written = Some(std::time::Instant::now() - REPEAT_INTERVAL);
        assert!(
            r.log(Level::Debug, "t", "b", "b"),
            "written again after the interval"
        );
    }
}
