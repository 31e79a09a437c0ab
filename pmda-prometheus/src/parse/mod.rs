//! The exposition-format parser: Prometheus text format 0.0.4 and
//! OpenMetrics 1.0, zero-copy.
//!
//! A [`Parser`] walks a document line by line and yields [`Line`]s that
//! borrow from the input: sample names, label names and raw (still escaped)
//! label values are slices of the document, so parsing a sample allocates
//! nothing. A malformed line yields a [`ParseError`] and the parser goes on
//! with the next line (the reference agent drops the rest of the document).
//!
//! The grammar pieces are nom parsers over `&str`; the hot ones (names,
//! quoted strings) scan bytes directly, which keeps throughput in the
//! hundreds of MB/s.
//!
//! ```
//! use pmda_prometheus::parse::{Line, Parser};
//! let doc = "# TYPE http_requests counter\nhttp_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n";
//! let mut samples = 0;
//! for line in Parser::new(doc) {
//!     if let Ok(Line::Sample(s)) = line {
//!         assert_eq!(s.name, "http_requests_total");
//!         assert_eq!(s.value, 1027.0);
//!         let labels: Vec<_> = s.labels().map(|(k, v)| (k, v.raw())).collect();
//!         assert_eq!(labels, [("code", "200"), ("method", "get")]);
//!         samples += 1;
//!     }
//! }
//! assert_eq!(samples, 1);
//! ```

use std::borrow::Cow;
use std::fmt;

mod grammar;
pub use grammar::parse_number;
use grammar::{comment_line, is_space_char, label_pair, sample_line, trim_line};

/// A metric family's type, from `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics).
    Info,
    /// `stateset` (OpenMetrics).
    StateSet,
    /// `untyped` (Prometheus 0.0.4).
    Untyped,
    /// `unknown` (OpenMetrics), or any word not listed here.
    Unknown,
}

impl MetricType {
    /// The type named by a `# TYPE` word (unknown words give
    /// [`MetricType::Unknown`]).
    pub fn from_word(word: &str) -> MetricType {
        match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "untyped" => MetricType::Untyped,
            _ => MetricType::Unknown,
        }
    }

    /// The suffixes a sample of this family may add to the family name
    /// (OpenMetrics section "Metric types", plus `_total` for counters).
    pub fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Info => &["_info"],
            _ => &[],
        }
    }
}

/// A label value as it appears between the quotes: still escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LabelValue<'a> {
    raw: &'a str,
    escaped: bool,
}

impl fmt::Debug for LabelValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.raw)
    }
}

impl<'a> LabelValue<'a> {
    /// The text between the quotes, escapes not yet undone.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// True if the value holds a backslash escape.
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// Appends the unescaped value to `out`: `\\` gives `\`, `\n` a
    /// newline, `\"` a quote; any other `\X` is kept as written (as PCP
    /// 6.0.3 does).
    pub fn unescape_into(&self, out: &mut String) {
        if !self.escaped {
            out.push_str(self.raw);
            return;
        }
        unescape_into(self.raw, out, true);
    }

    /// The unescaped value, borrowed when there is nothing to undo.
    pub fn value(&self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        let mut s = String::with_capacity(self.raw.len());
        unescape_into(self.raw, &mut s, true);
        Cow::Owned(s)
    }
}

/// Undoes `\\`, `\n` (and `\"` when `quotes`); other escapes stay as written.
pub fn unescape_into(raw: &str, out: &mut String, quotes: bool) {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The sample name (`http_requests_total`, `job:rate:5m`).
    pub name: &'a str,
    /// The text between the braces (already checked), empty without labels.
    labels: &'a str,
    /// The value.
    pub value: f64,
    /// The value as written (`1027`, `+Inf`, `1.5e-3`).
    pub value_text: &'a str,
    /// The timestamp as written, if any (milliseconds in 0.0.4, seconds in
    /// OpenMetrics).
    pub timestamp: Option<&'a str>,
    /// The exemplar after `# `, if any (checked, kept as text).
    pub exemplar: Option<&'a str>,
}

impl<'a> Sample<'a> {
    /// The labels, in document order, as (name, raw value).
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter { rest: self.labels }
    }

    /// True if the sample has at least one label.
    pub fn has_labels(&self) -> bool {
        !self.labels.trim_matches(is_space_char).is_empty()
    }

    /// The label text between the braces, as written.
    pub fn labels_text(&self) -> &'a str {
        self.labels
    }
}

/// An iterator over a sample's labels (the text was checked when the
/// line was parsed, so iteration cannot fail).
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, LabelValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (rest, pair) = label_pair(skip_sep(self.rest)).ok()?;
        self.rest = rest;
        Some(pair)
    }
}

fn skip_sep(s: &str) -> &str {
    s.trim_start_matches(|c: char| is_space_char(c) || c == ',')
}

/// One line of a document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Line<'a> {
    /// A sample.
    Sample(Sample<'a>),
    /// `# HELP name text`; the text is still escaped (see [`help_text`]).
    Help {
        /// The family name.
        name: &'a str,
        /// The raw help text.
        text: &'a str,
    },
    /// `# TYPE name type`.
    Type {
        /// The family name.
        name: &'a str,
        /// The type.
        ty: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics).
    Unit {
        /// The family name.
        name: &'a str,
        /// The unit word (`seconds`, `bytes`).
        unit: &'a str,
    },
    /// `# PCP name semantics units...` (pmwebd's pre-v5 metadata).
    Pcp {
        /// The PCP metric name.
        name: &'a str,
        /// The rest of the line: semantics and units.
        rest: &'a str,
    },
    /// `# PCP5 name pmid type indom semantics units...`.
    Pcp5 {
        /// The PCP metric name.
        name: &'a str,
        /// The rest of the line after the name.
        rest: &'a str,
    },
    /// `# EOF`: the end of an OpenMetrics document.
    Eof,
    /// Any other comment.
    Comment(&'a str),
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The metric name is missing or holds a character names may not.
    BadName,
    /// The label set is malformed (missing quote, comma or brace).
    BadLabels,
    /// The value is missing or not a number.
    BadValue,
    /// The timestamp is not a number.
    BadTimestamp,
    /// The exemplar is malformed.
    BadExemplar,
    /// Text follows the sample where none may.
    TrailingText,
    /// A `# HELP`/`# TYPE`/`# UNIT` line without a name.
    BadComment,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::BadName => "invalid metric name",
            ErrorKind::BadLabels => "invalid label set",
            ErrorKind::BadValue => "invalid value",
            ErrorKind::BadTimestamp => "invalid timestamp",
            ErrorKind::BadExemplar => "invalid exemplar",
            ErrorKind::TrailingText => "unexpected text after the sample",
            ErrorKind::BadComment => "invalid metadata comment",
        })
    }
}

/// A line that could not be parsed; the parser has moved past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError<'a> {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ErrorKind,
    /// The line (trimmed).
    pub text: &'a str,
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.text;
        if shown.len() > 120 {
            let mut end = 120;
            while !shown.is_char_boundary(end) {
                end -= 1;
            }
            shown = &shown[..end];
        }
        write!(f, "line {}: {}: {:?}", self.line, self.kind, shown)
    }
}

/// A streaming, zero-copy parser over a whole document.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    rest: &'a str,
    line: usize,
    done: bool,
}

impl<'a> Parser<'a> {
    /// A parser over `doc`.
    pub fn new(doc: &'a str) -> Parser<'a> {
        Parser {
            rest: doc,
            line: 0,
            done: false,
        }
    }

    /// The number of the line last returned (1-based).
    pub fn line_number(&self) -> usize {
        self.line
    }

    /// The text not yet parsed.
    pub fn remaining(&self) -> &'a str {
        self.rest
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Line<'a>, ParseError<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done || self.rest.is_empty() {
                return None;
            }
            let bytes = self.rest.as_bytes();
            let (line, next) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, ""),
            };
            self.rest = next;
            self.line += 1;
            let line = trim_line(line);
            if line.is_empty() {
                continue;
            }
            let parsed = if line.as_bytes()[0] == b'#' {
                comment_line(line)
            } else {
                sample_line(line).map(Line::Sample)
            };
            if let Ok(Line::Eof) = parsed {
                self.done = true;
            }
            return Some(parsed.map_err(|kind| ParseError {
                line: self.line,
                kind,
                text: line,
            }));
        }
    }
}

/// The help text of a `# HELP` line, unescaped and split into the one-line
/// summary (the first line) and the rest (the long help, maybe empty).
pub fn help_text(raw: &str) -> (String, String) {
    let mut s = String::with_capacity(raw.len());
    unescape_into(raw, &mut s, false);
    match s.split_once('\n') {
        Some((first, rest)) => (first.to_string(), rest.to_string()),
        None => (s, String::new()),
    }
}

#[cfg(test)]
mod tests;
