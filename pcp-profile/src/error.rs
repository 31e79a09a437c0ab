//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong in the profiler.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// An option has a value the profiler cannot use.
    #[error("invalid option {option}: {message}")]
    Config {
        /// The option, as the command line spells it.
        option: &'static str,
        /// Why it was refused.
        message: String,
    },
    /// bpftrace could not be started or stopped working.
    #[error("bpftrace: {0}")]
    Bpftrace(String),
    /// A line of bpftrace's output could not be understood.
    #[error("bpftrace output: {0}")]
    Parse(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A pprof profile could not be decoded.
    #[error("pprof: {0}")]
    Pprof(String),
    /// Rendering a flame graph failed.
    #[error("flame graph: {0}")]
    Flame(String),
    /// Pushing to Pyroscope failed.
    #[error("push to {url}: {message}")]
    Push {
        /// The ingest URL.
        url: String,
        /// Why.
        message: String,
    },
}

impl ProfileError {
    pub(crate) fn config(option: &'static str, message: impl Into<String>) -> ProfileError {
        ProfileError::Config {
            option,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ProfileError {
        ProfileError::Io {
            path: path.into(),
            source,
        }
    }
}
