//! The agent's error type.

use std::path::PathBuf;

/// Why the bpftrace agent could not start, or why a script was refused.
#[derive(Debug, thiserror::Error)]
pub enum BpftraceError {
    /// The bpftrace executable could not be run.
    #[error("cannot run bpftrace ({path}): {source}; install bpftrace or set bpftrace_path in the config file")]
    Spawn {
        /// The executable tried.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// `bpftrace --version` failed.
    #[error("{path} --version failed: {detail}")]
    Version {
        /// The executable tried.
        path: String,
        /// Its exit status and output.
        detail: String,
    },
    /// The bpftrace version is too old for `-f json` with the program on stdin.
    #[error("bpftrace {found} at {path} is too old: version {need} or later is required (JSON output with the program on stdin)")]
    TooOld {
        /// The executable.
        path: String,
        /// The version it reported.
        found: String,
        /// The minimum version.
        need: String,
    },
    /// The configuration file could not be read or has a bad value.
    #[error("{path}:{line}: {detail}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The line (0 when the whole file is concerned).
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// An autostart directory or script is writable by someone other than root.
    #[error("{path} must be exclusively writable by root ({detail})")]
    AutostartPermission {
        /// The directory or file.
        path: PathBuf,
        /// The offending permission.
        detail: String,
    },
    /// An autostart directory or script could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A script was refused (parse error, limit, name in use).
    #[error("{0}")]
    Script(String),
}
