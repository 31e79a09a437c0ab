//! Parser of bpftrace's `-f json` output: one JSON object per line, each an
//! [`Event`]. Parsing is separate from I/O: [`parse_line`] takes bytes, so it
//! is tested on transcripts recorded from real bpftrace runs
//! (`tests/fixtures/*.jsonl`) and benchmarked without a process.
//!
//! Message types known to bpftrace 0.9 to 0.2x: `attached_probes`, `map`,
//! `hist`, `stats`, `value`, `printf`, `time`, `cat`, `join`, `syscall`,
//! `lost_events`, `helper_error`. Anything else is [`Event::Unknown`], which
//! the caller logs once per type and skips.

mod decode;
mod json;
mod message;
#[cfg(test)]
mod tests;
mod value;

use std::borrow::Cow;

pub use json::Json;
pub use value::{Bucket, Scalar, Stats};

use decode::Raw;
use message::convert;

/// The data of one printed map.
#[derive(Debug, Clone, PartialEq)]
pub enum MapData<'a> {
    /// A map without keys.
    Scalar(Scalar),
    /// A keyed map: key text (bpftrace's rendering, borrowed from the line
    /// when it has no escapes) and value.
    Keyed(Vec<(Cow<'a, str>, Scalar)>),
    /// `hist()` / `lhist()` without keys.
    Hist(Vec<Bucket>),
    /// A keyed histogram.
    KeyedHist(Vec<(String, Vec<Bucket>)>),
    /// `stats()` without keys.
    Stats(Stats),
    /// A keyed `stats()`.
    KeyedStats(Vec<(String, Stats)>),
}

/// Which kind of text event produced output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// `printf()`.
    Printf,
    /// `time()`.
    Time,
    /// `cat()`.
    Cat,
    /// `join()`.
    Join,
    /// `system()`.
    Syscall,
    /// `print()` of a value that is not a map.
    Value,
}

/// One line of bpftrace's JSON output.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// The number of probes attached.
    AttachedProbes(u64),
    /// Maps printed (`map`, `hist` or `stats` message): name with `@`, data.
    Maps(Vec<(String, MapData<'a>)>),
    /// Text output.
    Text(TextKind, String),
    /// Events lost in the perf buffer.
    LostEvents(u64),
    /// A BPF helper failed (`-k`).
    HelperError {
        /// The helper.
        helper: String,
        /// Its return code.
        retcode: i64,
        /// Source line.
        line: u64,
        /// Source column.
        col: u64,
    },
    /// A message type this parser does not know: its type.
    Unknown(String),
}

impl Event<'_> {
    /// The event with nothing borrowed from the line.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Maps(maps) => Event::Maps(
                maps.into_iter()
                    .map(|(n, d)| {
                        let d = match d {
                            MapData::Keyed(kv) => MapData::Keyed(
                                kv.into_iter()
                                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v))
                                    .collect(),
                            ),
                            MapData::Scalar(s) => MapData::Scalar(s),
                            MapData::Hist(b) => MapData::Hist(b),
                            MapData::KeyedHist(b) => MapData::KeyedHist(b),
                            MapData::Stats(s) => MapData::Stats(s),
                            MapData::KeyedStats(s) => MapData::KeyedStats(s),
                        };
                        (n, d)
                    })
                    .collect(),
            ),
            Event::AttachedProbes(n) => Event::AttachedProbes(n),
            Event::Text(k, t) => Event::Text(k, t),
            Event::LostEvents(n) => Event::LostEvents(n),
            Event::HelperError {
                helper,
                retcode,
                line,
                col,
            } => Event::HelperError {
                helper,
                retcode,
                line,
                col,
            },
            Event::Unknown(t) => Event::Unknown(t),
        }
    }
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object with a string `type`.
    #[error("invalid JSON from bpftrace: {0}")]
    Json(String),
    /// JSON, but not shaped as the message type requires.
    #[error("unexpected {kind} message from bpftrace: {detail}")]
    Shape {
        /// The message type.
        kind: String,
        /// What was wrong.
        detail: String,
    },
}

/// Parses one output line. Blank lines (bpftrace prints some at exit) give
/// `Ok(None)`. Invalid UTF-8 inside strings (a `comm` or `str()` with odd
/// bytes) is replaced rather than failing the line.
pub fn parse_line(line: &[u8]) -> Result<Option<Event<'_>>, ParseError> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice::<Raw<'_>>(trimmed) {
        Ok(raw) => convert(raw).map(Some),
        Err(e) if std::str::from_utf8(trimmed).is_err() => {
            let text = String::from_utf8_lossy(trimmed);
            let raw: Raw<'_> =
                serde_json::from_str(&text).map_err(|_| ParseError::Json(e.to_string()))?;
            convert(raw).map(|ev| Some(ev.into_owned()))
        }
        Err(e) => Err(ParseError::Json(e.to_string())),
    }
}
