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

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{opt, rest};
use nom::sequence::preceded;
use nom::IResult;

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

#[inline]
fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn is_space_char(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[inline]
fn trim_line(line: &str) -> &str {
    let b = line.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && b[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    &line[start..end]
}

// Byte classes for names: 1 = may start a metric name, 2 = may continue
// one, 4 = may start a label name, 8 = may continue one.
const fn byte_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alpha = c.is_ascii_alphabetic();
        let digit = c.is_ascii_digit();
        let mut v = 0;
        if alpha || c == b'_' || c == b':' {
            v |= 1;
        }
        // '.' continues a name: PCP's own /metrics output (pmproxy, pmwebd)
        // uses dotted names, and the reference agent accepts them.
        if alpha || digit || c == b'_' || c == b':' || c == b'.' {
            v |= 2;
        }
        if alpha || c == b'_' {
            v |= 4;
        }
        if alpha || digit || c == b'_' {
            v |= 8;
        }
        t[i] = v;
        i += 1;
    }
    t
}
static CLASS: [u8; 256] = byte_classes();

type Res<'a, T> = IResult<&'a str, T, ()>;

/// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:.]*`.
fn metric_name(i: &str) -> Res<'_, &str> {
    let b = i.as_bytes();
    if b.is_empty() || CLASS[b[0] as usize] & 1 == 0 {
        return Err(nom::Err::Error(()));
    }
    let mut n = 1;
    while n < b.len() && CLASS[b[n] as usize] & 2 != 0 {
        n += 1;
    }
    Ok((&i[n..], &i[..n]))
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name(i: &str) -> Res<'_, &str> {
    let b = i.as_bytes();
    if b.is_empty() || CLASS[b[0] as usize] & 4 == 0 {
        return Err(nom::Err::Error(()));
    }
    let mut n = 1;
    while n < b.len() && CLASS[b[n] as usize] & 8 != 0 {
        n += 1;
    }
    Ok((&i[n..], &i[..n]))
}

/// Optional blanks.
fn ws(i: &str) -> Res<'_, ()> {
    let b = i.as_bytes();
    let mut n = 0;
    while n < b.len() && is_space(b[n]) {
        n += 1;
    }
    Ok((&i[n..], ()))
}

/// At least one blank.
fn ws1(i: &str) -> Res<'_, ()> {
    match i.as_bytes().first() {
        Some(&c) if is_space(c) => ws(i),
        _ => Err(nom::Err::Error(())),
    }
}

/// A double-quoted string with backslash escapes; gives the text between
/// the quotes.
fn quoted(i: &str) -> Res<'_, LabelValue<'_>> {
    let b = i.as_bytes();
    if b.first() != Some(&b'"') {
        return Err(nom::Err::Error(()));
    }
    let mut pos = 1;
    let mut escaped = false;
    loop {
        match memchr::memchr2(b'"', b'\\', &b[pos..]) {
            None => return Err(nom::Err::Error(())),
            Some(off) => {
                let at = pos + off;
                if b[at] == b'"' {
                    let raw = &i[1..at];
                    return Ok((&i[at + 1..], LabelValue { raw, escaped }));
                }
                escaped = true;
                pos = at + 2;
                if pos > b.len() {
                    return Err(nom::Err::Error(()));
                }
            }
        }
    }
}

/// `name ws? = ws? "value"`.
fn label_pair(i: &str) -> Res<'_, (&str, LabelValue<'_>)> {
    let (i, name) = label_name(i)?;
    let (i, _) = ws(i)?;
    let (i, _) = tag("=")(i)?;
    let (i, _) = ws(i)?;
    let (i, value) = quoted(i)?;
    Ok((i, (name, value)))
}

/// `{ pairs }` with blanks allowed around separators and a trailing comma
/// allowed; gives the text between the braces.
fn label_set(i: &str) -> Res<'_, &str> {
    let (body, _) = tag("{")(i)?;
    let (mut cur, _) = ws(body)?;
    let mut first = true;
    loop {
        if let Some(after) = cur.strip_prefix('}') {
            let inner = &body[..body.len() - cur.len()];
            return Ok((after, inner));
        }
        if !first {
            let (c, _) = tag(",")(cur)?;
            let (c, _) = ws(c)?;
            cur = c;
            if let Some(after) = cur.strip_prefix('}') {
                let inner = &body[..body.len() - cur.len()];
                return Ok((after, inner));
            }
        }
        let (c, _) = label_pair(cur)?;
        let (c, _) = ws(c)?;
        cur = c;
        first = false;
    }
}

/// A token up to the next blank.
fn token(i: &str) -> Res<'_, &str> {
    let b = i.as_bytes();
    let mut n = 0;
    while n < b.len() && !is_space(b[n]) {
        n += 1;
    }
    if n == 0 {
        return Err(nom::Err::Error(()));
    }
    Ok((&i[n..], &i[..n]))
}

/// Parses a number as Prometheus writes them (`1`, `-1.5e3`, `+Inf`,
/// `NaN`).
#[inline]
pub fn parse_number(s: &str) -> Option<f64> {
    // Rust rejects a leading '+' on nothing but accepts it on numbers and
    // "inf"; "Inf"/"NaN" are matched case-insensitively, as Go does.
    s.parse::<f64>().ok()
}

/// The exemplar: `# {labels} value [timestamp]`.
fn exemplar(i: &str) -> Res<'_, &str> {
    let (i, _) = tag("#")(i)?;
    let start = i;
    let (i, _) = ws(i)?;
    let (i, _) = label_set(i)?;
    let (i, _) = ws(i)?;
    let (i, v) = token(i)?;
    parse_number(v).ok_or(nom::Err::Error(()))?;
    let (i, ts) = opt(preceded(ws1, token))(i)?;
    if let Some(ts) = ts {
        parse_number(ts).ok_or(nom::Err::Error(()))?;
    }
    let (i, _) = ws(i)?;
    Ok((i, trim_line(&start[..start.len() - i.len()])))
}

fn sample_line(line: &str) -> Result<Sample<'_>, ErrorKind> {
    let (i, name) = metric_name(line).map_err(|_| ErrorKind::BadName)?;
    let (i, _) = ws(i).map_err(|_| ErrorKind::BadName)?;
    let (i, labels) = if i.as_bytes().first() == Some(&b'{') {
        let (i, l) = label_set(i).map_err(|_| ErrorKind::BadLabels)?;
        let (i, _) = ws(i).map_err(|_| ErrorKind::BadLabels)?;
        (i, l)
    } else {
        if i.len() == line.len() - name.len() && !i.is_empty() {
            // The name ran into a character a name may not hold.
            return Err(ErrorKind::BadName);
        }
        (i, "")
    };
    let (i, value_text) = token(i).map_err(|_| ErrorKind::BadValue)?;
    let value = parse_number(value_text).ok_or(ErrorKind::BadValue)?;
    let (i, _) = ws(i).map_err(|_| ErrorKind::BadValue)?;
    let mut timestamp = None;
    let mut rest_text = i;
    if !rest_text.is_empty() && rest_text.as_bytes()[0] != b'#' {
        let (r, ts) = token(rest_text).map_err(|_| ErrorKind::BadTimestamp)?;
        parse_number(ts).ok_or(ErrorKind::BadTimestamp)?;
        timestamp = Some(ts);
        let (r, _) = ws(r).map_err(|_| ErrorKind::BadTimestamp)?;
        rest_text = r;
    }
    let mut ex = None;
    if !rest_text.is_empty() {
        if rest_text.as_bytes()[0] != b'#' {
            return Err(ErrorKind::TrailingText);
        }
        let (r, e) = exemplar(rest_text).map_err(|_| ErrorKind::BadExemplar)?;
        if !r.is_empty() {
            return Err(ErrorKind::TrailingText);
        }
        ex = Some(e);
    }
    Ok(Sample {
        name,
        labels,
        value,
        value_text,
        timestamp,
        exemplar: ex,
    })
}

fn keyword(i: &str) -> Res<'_, &str> {
    alt((
        tag("HELP"),
        tag("TYPE"),
        tag("UNIT"),
        tag("PCP5"),
        tag("PCP"),
        tag("EOF"),
    ))(i)
}

fn comment_line(line: &str) -> Result<Line<'_>, ErrorKind> {
    let body = &line[1..];
    let parsed: Res<'_, (&str, &str)> = (|| {
        let (i, _) = ws1(body)?;
        let (i, kw) = keyword(i)?;
        // The keyword must be a whole word.
        if !(i.is_empty() || is_space(i.as_bytes()[0])) {
            return Err(nom::Err::Error(()));
        }
        let (i, _) = ws(i)?;
        Ok((i, (kw, i)))
    })();
    let Ok((_, (kw, args))) = parsed else {
        return Ok(Line::Comment(trim_line(body)));
    };
    if kw == "EOF" {
        return if args.is_empty() {
            Ok(Line::Eof)
        } else {
            Ok(Line::Comment(trim_line(body)))
        };
    }
    let (after, name) = metric_name(args).map_err(|_| ErrorKind::BadComment)?;
    if !(after.is_empty() || is_space(after.as_bytes()[0])) {
        return Err(ErrorKind::BadComment);
    }
    let (text, _) = ws(after).map_err(|_| ErrorKind::BadComment)?;
    let text_only: Res<'_, &str> = rest(text);
    let text = text_only.map(|(_, t)| t).unwrap_or("");
    Ok(match kw {
        "HELP" => Line::Help { name, text },
        "TYPE" => Line::Type {
            name,
            ty: MetricType::from_word(text.split_ascii_whitespace().next().unwrap_or("")),
        },
        "UNIT" => Line::Unit { name, unit: text },
        "PCP" => Line::Pcp { name, rest: text },
        _ => Line::Pcp5 { name, rest: text },
    })
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
mod tests {
    use super::*;

    fn samples(doc: &str) -> Vec<Sample<'_>> {
        Parser::new(doc)
            .filter_map(|l| match l {
                Ok(Line::Sample(s)) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn labels<'a>(s: &Sample<'a>) -> Vec<(&'a str, String)> {
        s.labels()
            .map(|(k, v)| (k, v.value().into_owned()))
            .collect()
    }

    #[test]
    fn prometheus_text_format_example() {
        // The example from the Prometheus exposition-format documentation.
        let doc = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
"#;
        let all: Vec<_> = Parser::new(doc).collect();
        assert!(all.iter().all(|l| l.is_ok()), "{all:?}");
        let s = samples(doc);
        assert_eq!(s.len(), 9);
        assert_eq!(s[0].name, "http_requests_total");
        assert_eq!(s[0].timestamp, Some("1395066363000"));
        assert_eq!(s[1].value, 3.0);
        assert_eq!(
            labels(&s[2]),
            [
                ("path", r"C:\DIR\FILE.TXT".to_string()),
                ("error", "Cannot find file:\n\"FILE.TXT\"".to_string())
            ]
        );
        assert_eq!(s[2].value, 1.458255915e9);
        assert!(s[3].labels().next().is_none());
        assert_eq!(s[4].value, f64::INFINITY);
        assert_eq!(s[4].timestamp, Some("-3982045"));
        assert!(matches!(
            Parser::new(doc).nth(1),
            Some(Ok(Line::Type {
                name: "http_requests_total",
                ty: MetricType::Counter
            }))
        ));
    }

    #[test]
    fn openmetrics_features() {
        let doc = "# TYPE foo counter\n# UNIT foo seconds\n# HELP foo Help with \\n newline.\n\
foo_total{a=\"1\",} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.4\n\
foo_created 1520430000.123\nnan_v NaN\nneg_inf -Inf\n# EOF\nafter_eof 1\n";
        let lines: Vec<_> = Parser::new(doc).collect::<Result<_, _>>().unwrap();
        assert_eq!(lines.len(), 8);
        assert_eq!(
            lines[1],
            Line::Unit {
                name: "foo",
                unit: "seconds"
            }
        );
        let Line::Help { text, .. } = lines[2] else {
            panic!()
        };
        assert_eq!(
            help_text(text),
            ("Help with ".to_string(), " newline.".to_string())
        );
        let Line::Sample(s) = lines[3] else { panic!() };
        assert_eq!(labels(&s), [("a", "1".to_string())]);
        assert_eq!(s.timestamp, Some("1520879607.789"));
        assert_eq!(
            s.exemplar,
            Some("{trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.4")
        );
        let Line::Sample(s) = lines[5] else { panic!() };
        assert!(s.value.is_nan());
        let Line::Sample(s) = lines[6] else { panic!() };
        assert_eq!(s.value, f64::NEG_INFINITY);
        assert_eq!(lines[7], Line::Eof);
    }

    #[test]
    fn lenient_forms_the_reference_accepts() {
        // Blank around '=' and ',', a blank between name and '{', CRLF.
        let doc = "loadavg {interval=\"1-minute\"} 0.12\r\nx{ a = \"1\" , b=\"2\" } 3\r\n  indented 4  \n";
        let s = samples(doc);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "loadavg");
        assert_eq!(labels(&s[1]), [("a", "1".into()), ("b", "2".into())]);
        assert_eq!(s[2].value, 4.0);
        assert!(samples("a{} 1").len() == 1);
        assert!(!samples("a{} 1")[0].has_labels());
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let doc = "good 1\nfoo{a=\"x\" b=\"y\"} 6\n<html>\nx{a=\"unterminated} 1\n9bad 1\nnoval\nv abc\nts 1 notanumber\nex 1 # garbage\nmore 2 3 4\nlast 5\n";
        let res: Vec<_> = Parser::new(doc).collect();
        let kinds: Vec<_> = res
            .iter()
            .map(|r| r.as_ref().err().map(|e| (e.line, e.kind)))
            .collect();
        assert_eq!(
            kinds,
            [
                None,
                Some((2, ErrorKind::BadLabels)),
                Some((3, ErrorKind::BadName)),
                Some((4, ErrorKind::BadLabels)),
                Some((5, ErrorKind::BadName)),
                Some((6, ErrorKind::BadValue)),
                Some((7, ErrorKind::BadValue)),
                Some((8, ErrorKind::BadTimestamp)),
                Some((9, ErrorKind::BadExemplar)),
                Some((10, ErrorKind::TrailingText)),
                None
            ]
        );
        assert_eq!(samples(doc).last().unwrap().name, "last");
    }

    #[test]
    fn comments() {
        let doc = "# Type foo gauge\n#\n# HELP\n# PCP5 disk.dev.read 60.0.4 u64 60.1 counter count\n# PCP kernel.all.load instant none\n# EOF extra\n";
        let lines: Vec<_> = Parser::new(doc).collect();
        assert_eq!(lines[0], Ok(Line::Comment("Type foo gauge")));
        assert_eq!(lines[1], Ok(Line::Comment("")));
        assert!(lines[2].is_err());
        assert_eq!(
            lines[3],
            Ok(Line::Pcp5 {
                name: "disk.dev.read",
                rest: "60.0.4 u64 60.1 counter count"
            })
        );
        assert_eq!(
            lines[4],
            Ok(Line::Pcp {
                name: "kernel.all.load",
                rest: "instant none"
            })
        );
        assert_eq!(lines[5], Ok(Line::Comment("EOF extra")));
    }

    #[test]
    fn escapes_kept_when_unknown() {
        let s = samples(r#"m{a="x\ty\\z\"q"} 1"#);
        assert_eq!(labels(&s[0]), [("a", r#"x\ty\z"q"#.to_string())]);
        assert!(samples(r#"m{a="ends\"} 1"#).is_empty());
    }

    #[test]
    fn non_ascii_label_values() {
        let s = samples("m{city=\"Zürich\",e=\"日本\"} 1\n");
        assert_eq!(labels(&s[0])[0].1, "Zürich");
        assert_eq!(labels(&s[0])[1].1, "日本");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_random_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            for l in Parser::new(&text) {
                if let Ok(Line::Sample(s)) = l {
                    for (_, v) in s.labels() {
                        let _ = v.value();
                    }
                }
            }
        }

        #[test]
        fn never_panics_on_near_valid_lines(s in r#"[a-z_:{}=",# \\.0-9+\-eEInfNa\t\n]{0,200}"#) {
            for l in Parser::new(&s) {
                if let Ok(Line::Sample(s)) = l {
                    let n = s.labels().count();
                    proptest::prop_assert!(n <= s.labels_text().len());
                }
            }
        }

        #[test]
        fn labels_round_trip(pairs in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[^\\\\\"\n]{0,12}|[a\\\\\"\n]{0,6}"), 0..6), v in proptest::num::f64::NORMAL) {
            let mut line = String::from("m{");
            for (k, val) in &pairs {
                let esc = val.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                line.push_str(&format!("{k}=\"{esc}\","));
            }
            line.push_str(&format!("}} {v:e}\n"));
            let got = samples(&line);
            proptest::prop_assert_eq!(got.len(), 1);
            proptest::prop_assert_eq!(got[0].value, v);
            let back: Vec<(String, String)> = got[0].labels().map(|(k, x)| (k.to_string(), x.value().into_owned())).collect();
            proptest::prop_assert_eq!(back, pairs);
        }
    }
}
