//! The agent's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in the agent: at start-up (config, state)
/// or while getting a source's document.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The persistent id store failed.
    #[error("id store: {0}")]
    Store(#[from] pcp_core::StoreError),
    /// The `-u` user does not exist.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// An identifier out of range (a source or metric past the limits).
    #[error("{0}")]
    Id(#[from] pcp_core::IdError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An HTTP endpoint answered with an error status.
    #[error("HTTP status {code} {text}")]
    HttpStatus {
        /// The status code.
        code: u16,
        /// The reason phrase.
        text: String,
    },
    /// The connection failed (refused, DNS, TLS, timeout).
    #[error("{0}")]
    Transport(String),
    /// The URL scheme is not http, https or file.
    #[error("unsupported URL {0:?}: expected http://, https:// or file://")]
    BadUrl(String),
    /// A script could not be started.
    #[error("cannot execute {path}: {source}")]
    Exec {
        /// The script.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A script exited with a failure status (its output is discarded).
    #[error("script exited with {0}")]
    ScriptFailed(String),
    /// A script ran past its timeout; its process group was killed.
    #[error("timed out after {0:?} (process group killed)")]
    ScriptTimeout(Duration),
    /// The source did not answer before the fetch deadline.
    #[error("no answer within the fetch deadline")]
    Deadline,
    /// An endpoint redirected the request (the blocking client follows
    /// redirects; the non-blocking one hands them to it).
    #[error("redirected to {0}")]
    Redirect(String),
    /// An HTTP exchange ran past the source's timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl PrometheusError {
    /// True when the source was slow rather than broken (a timeout): its
    /// last good values may still be served, marked stale.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            PrometheusError::ScriptTimeout(_)
                | PrometheusError::Deadline
                | PrometheusError::Timeout(_)
        ) || matches!(self, PrometheusError::Transport(t) if t.contains("timed out"))
    }
}
