//! The performance-data parser: `'label'=value[UOM];[warn];[crit];[min];[max]`
//! items, space separated, as the Nagios plugin development guidelines
//! define them.
//!
//! - Labels are quoted (`'C:\ Label'`, with `''` for a quote) or not (no
//!   spaces, no `=`); check_multi's `child::plugin::label` form names the
//!   child check, and items after it without a `::` belong to the same child.
//! - Values are numbers (an exponent is accepted) or `U` / empty (unknown).
//! - UOM: none (a number of things), `s` `ms` `us`, `%`, `B` `KB` `MB` `GB`
//!   `TB` (and `KiB`... likewise), `c` (a counter); any other unit is kept
//!   as text ([`Uom::Other`]).
//! - warn and crit are ranges (`10`, `10:`, `~:10`, `10:20`, `@10:20`);
//!   min and max are numbers.
//!
//! A bad item (a comma as decimal separator, no `=`, a range with start
//! after end, an unterminated quote) is reported with its byte offset and
//! skipped; the items after it are still read. Nothing is copied except a
//! label with an escaped quote.
//!
//! ```
//! use pmda_nagios::perfdata::{parse, Uom};
//! let items: Vec<_> = parse("load1=1.390;5.000;10.000;0; 'C:\\ Label'=7MB;;;0;100").collect();
//! let load = items[0].as_ref().unwrap();
//! assert_eq!((load.label.as_ref(), load.value), ("load1", Some(1.39)));
//! assert_eq!(load.warn.unwrap().end, 5.0);
//! let disk = items[1].as_ref().unwrap();
//! assert_eq!((disk.label.as_ref(), disk.uom), ("C:\\ Label", Uom::Bytes(2)));
//! ```

use std::borrow::Cow;
use std::fmt;

use nom::branch::alt;
use nom::character::complete::{char, digit0, digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::sequence::{pair, tuple};
use nom::IResult;

/// A unit of measurement of a perfdata value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uom<'a> {
    /// No unit: a number of things (users, processes, load).
    None,
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// A percentage.
    Percent,
    /// Bytes at a PCP space scale: 0 byte, 1 Kbyte ... 4 Tbyte, 5 Pbyte.
    Bytes(u8),
    /// A continuous counter.
    Counter,
    /// Any other unit, as the plugin wrote it.
    Other(&'a str),
}

impl<'a> Uom<'a> {
    /// The unit of `text` (what follows a value).
    pub fn from_text(text: &'a str) -> Uom<'a> {
        match text {
            "" => Uom::None,
            "s" => Uom::Seconds,
            "ms" => Uom::Millis,
            "us" => Uom::Micros,
            "%" => Uom::Percent,
            "B" => Uom::Bytes(0),
            "KB" | "KiB" | "kB" => Uom::Bytes(1),
            "MB" | "MiB" => Uom::Bytes(2),
            "GB" | "GiB" => Uom::Bytes(3),
            "TB" | "TiB" => Uom::Bytes(4),
            "PB" | "PiB" => Uom::Bytes(5),
            "c" => Uom::Counter,
            other => Uom::Other(other),
        }
    }

    /// The unit as the plugin would write it.
    pub fn as_str(&self) -> &'a str {
        match *self {
            Uom::None => "",
            Uom::Seconds => "s",
            Uom::Millis => "ms",
            Uom::Micros => "us",
            Uom::Percent => "%",
            Uom::Bytes(s) => ["B", "KB", "MB", "GB", "TB", "PB"]
                .get(s as usize)
                .copied()
                .unwrap_or("B"),
            Uom::Counter => "c",
            Uom::Other(t) => t,
        }
    }
}

/// A threshold range: alert when the value is outside `start..=end`, or
/// inside it when `inside` (the `@` form). Open ends are infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower end (`f64::NEG_INFINITY` for `~`).
    pub start: f64,
    /// Upper end (`f64::INFINITY` when not given).
    pub end: f64,
    /// Alert inside the range rather than outside it.
    pub inside: bool,
}

impl Range {
    /// True when `value` raises the alert this range describes.
    pub fn alerts(&self, value: f64) -> bool {
        let within = value >= self.start && value <= self.end;
        within == self.inside
    }
}

impl fmt::Display for Range {
    /// The range in the guidelines' own notation (`~:10`, `@5:`, `10`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inside {
            f.write_str("@")?;
        }
        let end = |f: &mut fmt::Formatter<'_>| {
            if self.end.is_finite() {
                write!(f, "{}", self.end)
            } else {
                Ok(())
            }
        };
        if self.start == 0.0 && self.end.is_finite() && !self.inside {
            return end(f);
        }
        if self.start == f64::NEG_INFINITY {
            f.write_str("~:")?;
        } else {
            write!(f, "{}:", self.start)?;
        }
        end(f)
    }
}

/// One performance-data item.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfItem<'a> {
    /// The check_multi child it belongs to, if any.
    pub child: Option<Cow<'a, str>>,
    /// The label (quotes removed, `''` made `'`).
    pub label: Cow<'a, str>,
    /// The value, or `None` for `U` or an empty value.
    pub value: Option<f64>,
    /// Its unit.
    pub uom: Uom<'a>,
    /// Warning range.
    pub warn: Option<Range>,
    /// Critical range.
    pub crit: Option<Range>,
    /// Minimum possible value.
    pub min: Option<f64>,
    /// Maximum possible value.
    pub max: Option<f64>,
}

/// Why an item was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PerfErrorKind {
    /// No `=` after the label.
    #[error("no '=' after the label")]
    NoEquals,
    /// A quoted label without its closing quote.
    #[error("unterminated quoted label")]
    UnterminatedQuote,
    /// An empty label.
    #[error("empty label")]
    EmptyLabel,
    /// A comma used as the decimal separator (`1,5`).
    #[error("comma as decimal separator (perfdata numbers use '.')")]
    CommaDecimal,
    /// The value is not a number, `U` or empty.
    #[error("value is not a number")]
    BadValue,
    /// A warn/crit range that does not parse or has start after end.
    #[error("bad {0} range")]
    BadRange(&'static str),
    /// A min/max that is not a number.
    #[error("bad {0} value")]
    BadLimit(&'static str),
}

/// A skipped item: where it starts in the perfdata text, its text (at
/// most 64 bytes) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("perfdata item at byte {offset} ({text:?}): {kind}")]
pub struct PerfError {
    /// Byte offset of the item in the text parsed.
    pub offset: usize,
    /// The item's text, cut at 64 bytes.
    pub text: String,
    /// What is wrong.
    pub kind: PerfErrorKind,
}

/// The items of `perfdata`, one `Result` each, in order.
pub fn parse(perfdata: &str) -> Items<'_> {
    Items {
        text: perfdata,
        pos: 0,
        child: None,
    }
}

/// Iterator over the items of a perfdata string (see [`parse`]).
#[derive(Debug, Clone)]
pub struct Items<'a> {
    text: &'a str,
    pos: usize,
    child: Option<Cow<'a, str>>,
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<PerfItem<'a>, PerfError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.text[self.pos..];
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            self.pos = self.text.len();
            return None;
        }
        let start = self.pos + (rest.len() - trimmed.len());
        match item(trimmed) {
            Ok((len, mut it)) => {
                self.pos = start + len;
                match &it.child {
                    Some(c) => self.child = Some(c.clone()),
                    None => it.child = self.child.clone(),
                }
                Some(Ok(it))
            }
            Err(kind) => {
                let end = if kind == PerfErrorKind::UnterminatedQuote {
                    trimmed.find(char::is_whitespace).unwrap_or(trimmed.len())
                } else {
                    skip_item(trimmed)
                };
                self.pos = start + end;
                let text: String = trimmed[..end].chars().take(64).collect();
                Some(Err(PerfError {
                    offset: start,
                    text,
                    kind,
                }))
            }
        }
    }
}

/// Length of a bad item: up to the next whitespace outside quotes.
fn skip_item(s: &str) -> usize {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return i,
            _ => {}
        }
    }
    s.len()
}

/// One item at the start of `s`: its length in bytes and the item.
fn item(s: &str) -> Result<(usize, PerfItem<'_>), PerfErrorKind> {
    let (label_len, raw_label, colons) = label(s)?;
    let rest = &s[label_len..];
    let Some(rest) = rest.strip_prefix('=') else {
        return Err(PerfErrorKind::NoEquals);
    };
    let fields_len = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let fields = &rest[..fields_len];
    let total = label_len + 1 + fields_len;
    let (child, label) = if colons {
        split_child(raw_label)
    } else {
        (None, raw_label)
    };
    if label.is_empty() {
        return Err(PerfErrorKind::EmptyLabel);
    }
    let mut parts = fields.split(';');
    let (value, uom) = value_and_uom(parts.next().unwrap_or(""))?;
    let warn = range_field(parts.next(), uom, "warn")?;
    let crit = range_field(parts.next(), uom, "crit")?;
    let min = limit_field(parts.next(), uom, "min")?;
    let max = limit_field(parts.next(), uom, "max")?;
    Ok((
        total,
        PerfItem {
            child,
            label,
            value,
            uom,
            warn,
            crit,
            min,
            max,
        },
    ))
}

/// The label at the start of `s` (quoted or not, with any `::` parts):
/// its length, its text with quotes resolved, and whether a `::` stood
/// outside quotes (only then is it check_multi's child form).
fn label(s: &str) -> Result<(usize, Cow<'_, str>, bool), PerfErrorKind> {
    let mut len = 0;
    let mut text: Cow<'_, str> = Cow::Borrowed("");
    let mut cur = s;
    let mut colons = false;
    loop {
        if let Some(q) = cur.strip_prefix('\'') {
            let (qlen, part) = quoted(q)?;
            text = join(text, part);
            len += 1 + qlen;
            cur = &s[len..];
        } else {
            let n = cur
                .find(|c: char| c == '=' || c == '\'' || c.is_whitespace())
                .unwrap_or(cur.len());
            if n == 0 {
                break;
            }
            colons |= cur[..n].contains("::");
            text = join(text, Cow::Borrowed(&cur[..n]));
            len += n;
            cur = &s[len..];
        }
        if cur.starts_with('=') || cur.is_empty() || cur.starts_with(char::is_whitespace) {
            break;
        }
    }
    if text.is_empty() && !cur.starts_with('=') {
        return Err(PerfErrorKind::NoEquals);
    }
    Ok((len, text, colons))
}

fn join<'a>(a: Cow<'a, str>, b: Cow<'a, str>) -> Cow<'a, str> {
    if a.is_empty() {
        b
    } else {
        Cow::Owned(format!("{a}{b}"))
    }
}

/// A quoted label's body (after the opening quote): its length including
/// the closing quote, and the text with `''` made `'`.
fn quoted(s: &str) -> Result<(usize, Cow<'_, str>), PerfErrorKind> {
    let mut i = 0;
    let bytes = s.as_bytes();
    let mut escaped = false;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                escaped = true;
                i += 2;
                continue;
            }
            let body = &s[..i];
            let text = if escaped {
                Cow::Owned(body.replace("''", "'"))
            } else {
                Cow::Borrowed(body)
            };
            return Ok((i + 1, text));
        }
        i += 1;
    }
    Err(PerfErrorKind::UnterminatedQuote)
}

/// check_multi's `child::plugin::label`: the child and the label.
fn split_child(label: Cow<'_, str>) -> (Option<Cow<'_, str>>, Cow<'_, str>) {
    fn parts(l: &str) -> Option<(&str, &str)> {
        let (child, rest) = l.split_once("::")?;
        let name = rest.rsplit_once("::").map_or(rest, |(_, n)| n);
        // "::1" (an IPv6 address) names no child.
        (!child.is_empty() && !name.is_empty()).then_some((child, name))
    }
    match label {
        Cow::Borrowed(l) => match parts(l) {
            Some((c, n)) => (Some(Cow::Borrowed(c)), Cow::Borrowed(n)),
            None => (None, Cow::Borrowed(l)),
        },
        Cow::Owned(l) => match parts(&l) {
            Some((c, n)) => (Some(Cow::Owned(c.to_string())), Cow::Owned(n.to_string())),
            None => (None, Cow::Owned(l)),
        },
    }
}

/// A decimal number with optional sign, fraction and exponent.
fn number(s: &str) -> IResult<&str, &str> {
    recognize(tuple((
        opt(one_of("+-")),
        alt((
            recognize(pair(digit1, opt(pair(char('.'), digit0)))),
            recognize(pair(char('.'), digit1)),
        )),
        opt(tuple((one_of("eE"), opt(one_of("+-")), digit1))),
    )))(s)
}

/// A number at the start of `s`, rejecting a comma decimal (`1,5`).
fn leading_number(s: &str) -> Option<Result<(f64, &str), PerfErrorKind>> {
    let (rest, num) = number(s).ok()?;
    if rest.starts_with(',') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return Some(Err(PerfErrorKind::CommaDecimal));
    }
    Some(
        num.parse::<f64>()
            .map(|v| (v, rest))
            .map_err(|_| PerfErrorKind::BadValue),
    )
}

fn value_and_uom(field: &str) -> Result<(Option<f64>, Uom<'_>), PerfErrorKind> {
    if field.is_empty() {
        return Ok((None, Uom::None));
    }
    if let Some(unit) = field.strip_prefix('U') {
        // `U`, possibly followed by the unit the value would have had.
        if unit.is_empty() || !unit.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Ok((None, Uom::from_text(unit)));
        }
    }
    match leading_number(field) {
        Some(Ok((v, unit))) => Ok((Some(v), Uom::from_text(unit))),
        Some(Err(e)) => Err(e),
        None => Err(PerfErrorKind::BadValue),
    }
}

/// A number field (min, max, a range end) that may repeat the value's unit.
fn bare_number(s: &str, uom: Uom<'_>) -> Option<Result<f64, PerfErrorKind>> {
    match leading_number(s)? {
        Ok((v, rest)) if rest.is_empty() || rest == uom.as_str() => Some(Ok(v)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

fn limit_field(
    field: Option<&str>,
    uom: Uom<'_>,
    what: &'static str,
) -> Result<Option<f64>, PerfErrorKind> {
    match field {
        None | Some("") => Ok(None),
        Some(f) => match bare_number(f, uom) {
            Some(r) => r.map(Some),
            None => Err(PerfErrorKind::BadLimit(what)),
        },
    }
}

fn range_field(
    field: Option<&str>,
    uom: Uom<'_>,
    what: &'static str,
) -> Result<Option<Range>, PerfErrorKind> {
    match field {
        None | Some("") => Ok(None),
        Some(f) => parse_range(f, uom).map(Some).map_err(|e| match e {
            PerfErrorKind::CommaDecimal => e,
            _ => PerfErrorKind::BadRange(what),
        }),
    }
}

/// A threshold range in the guidelines' notation.
///
/// ```
/// use pmda_nagios::perfdata::{parse_range, Uom};
/// let r = parse_range("@10:20", Uom::None).unwrap();
/// assert!(r.inside && r.alerts(15.0) && !r.alerts(25.0));
/// let r = parse_range("~:5", Uom::None).unwrap();
/// assert!(r.alerts(6.0) && !r.alerts(-1e9));
/// assert_eq!(parse_range("10", Uom::None).unwrap().start, 0.0);
/// ```
pub fn parse_range(text: &str, uom: Uom<'_>) -> Result<Range, PerfErrorKind> {
    let (inside, body) = match text.strip_prefix('@') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let bad = PerfErrorKind::BadRange("threshold");
    let num = |s: &str| match bare_number(s, uom) {
        Some(r) => r,
        None => Err(bad.clone()),
    };
    let (start, end) = match body.split_once(':') {
        None => (0.0, num(body)?),
        Some((s, e)) => {
            let start = match s {
                "~" => f64::NEG_INFINITY,
                "" => 0.0,
                s => num(s)?,
            };
            let end = if e.is_empty() { f64::INFINITY } else { num(e)? };
            (start, end)
        }
    };
    if start > end {
        return Err(bad);
    }
    Ok(Range { start, end, inside })
}
