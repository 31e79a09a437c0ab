//! Units as text and scale conversion, with PCP 6.0.3's rules:
//! [`parse`] reads a units specification as `pmParseUnitsStr(3)` does
//! (`Kbyte / sec`, `millisec/count`, `count x 10^3`, `2 KiB`, `MB^2 / s`),
//! and [`conv_scale`] rescales one value between two units of the same
//! dimension as `pmConvScale(3)` does (integers rounded, `none` taken as
//! `count`).
//!
//! ```
//! use pcp_core::units::parse;
//! use pcp_core::Units;
//! let p = parse("kbyte / count").unwrap();
//! assert_eq!(p.units, Units::KBYTES.per_count(0));
//! assert_eq!(parse("millisec / sec").unwrap().multiplier, 1000.0);
//! assert_eq!(parse("furlongs").unwrap_err().to_string(), "unrecognized or duplicate base unit");
//! ```

use crate::desc::{space, time, Units};

/// A parsed units specification: the units and the factor a value in them
/// is multiplied by to be in the written specification (`2 count` gives
/// count and 0.5, as pmParseUnitsStr's `outMult`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParsedUnits {
    /// The units.
    pub units: Units,
    /// pmParseUnitsStr's multiplier.
    pub multiplier: f64,
}

/// Why a units specification was refused, in pmParseUnitsStr's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    /// A word that is no unit, or a dimension given twice.
    #[error("unrecognized or duplicate base unit")]
    Unrecognized,
    /// A number that does not read as one.
    #[error("invalid floating point literal")]
    BadNumber,
    /// A dimension outside -8..=7 once divided out.
    #[error("{0} dimension out of bounds")]
    OutOfBounds(&'static str),
    /// A time scale past hours in both halves of a quotient (libpcp
    /// asserts here; we refuse).
    #[error("time scale out of range")]
    TimeScale,
}

/// Internal units without the 4-bit limits, for intermediate results.
#[derive(Debug, Default, Clone, Copy)]
struct Wide {
    dim_space: i32,
    dim_time: i32,
    dim_count: i32,
    scale_space: u32,
    scale_time: u32,
    scale_count: i32,
}

const TIME_WORDS: &[(&str, u32)] = &[
    ("nanoseconds", time::NSEC as u32),
    ("nanosecond", time::NSEC as u32),
    ("nanosec", time::NSEC as u32),
    ("ns", time::NSEC as u32),
    ("microseconds", time::USEC as u32),
    ("microsecond", time::USEC as u32),
    ("microsec", time::USEC as u32),
    ("us", time::USEC as u32),
    ("milliseconds", time::MSEC as u32),
    ("millisecond", time::MSEC as u32),
    ("millisec", time::MSEC as u32),
    ("ms", time::MSEC as u32),
    ("seconds", time::SEC as u32),
    ("second", time::SEC as u32),
    ("sec", time::SEC as u32),
    ("s", time::SEC as u32),
    ("minutes", time::MIN as u32),
    ("minute", time::MIN as u32),
    ("min", time::MIN as u32),
    ("hours", time::HOUR as u32),
    ("hour", time::HOUR as u32),
    ("hr", time::HOUR as u32),
    ("h", time::HOUR as u32),
];

const SPACE_STEMS: &[(&[&str], u32)] = &[
    (&["bytes", "byte"], space::BYTE as u32),
    (
        &[
            "KB",
            "KiB",
            "Kbytes",
            "Kbyte",
            "Kibibytes",
            "Kibibyte",
            "Kilobytes",
            "Kilobyte",
        ],
        space::KBYTE as u32,
    ),
    (
        &[
            "MB",
            "MiB",
            "Mbytes",
            "Mbyte",
            "Mebibytes",
            "Mebibyte",
            "Megabytes",
            "Megabyte",
        ],
        space::MBYTE as u32,
    ),
    (
        &[
            "GB",
            "GiB",
            "Gbytes",
            "Gbyte",
            "Gibibytes",
            "Gibibyte",
            "Gigabytes",
            "Gigabyte",
        ],
        space::GBYTE as u32,
    ),
    (
        &[
            "TB",
            "TiB",
            "Tbytes",
            "Tbyte",
            "Tebibytes",
            "Tebibyte",
            "Terabytes",
            "Terabyte",
        ],
        space::TBYTE as u32,
    ),
    (
        &[
            "PB",
            "PiB",
            "Pbytes",
            "Pbyte",
            "Pebibytes",
            "Pebibyte",
            "Petabytes",
            "Petabyte",
        ],
        space::PBYTE as u32,
    ),
    (
        &[
            "EB",
            "EiB",
            "Ebytes",
            "Ebyte",
            "Exbibytes",
            "Exbibyte",
            "Exabytes",
            "Exabyte",
        ],
        space::EBYTE as u32,
    ),
    (
        &[
            "ZB",
            "ZiB",
            "Zbytes",
            "Zbyte",
            "Zebibytes",
            "Zebibyte",
            "Zettabytes",
            "Zettabyte",
        ],
        space::ZBYTE as u32,
    ),
    (
        &[
            "YB",
            "YiB",
            "Ybytes",
            "Ybyte",
            "Yobibytes",
            "Yobibyte",
            "Yottabytes",
            "Yottabyte",
        ],
        space::YBYTE as u32,
    ),
];

/// Count words, longest first where one is a prefix of another
/// (`count x 10^2` before `count x 10`).
const COUNT_WORDS: &[(&str, i32)] = &[
    ("count x 10^-8", -8),
    ("count x 10^-7", -7),
    ("count x 10^-6", -6),
    ("count x 10^-5", -5),
    ("count x 10^-4", -4),
    ("count x 10^-3", -3),
    ("count x 10^-2", -2),
    ("count x 10^-1", -1),
    ("count x 10^2", 2),
    ("count x 10^3", 3),
    ("count x 10^4", 4),
    ("count x 10^5", 5),
    ("count x 10^6", 6),
    ("count x 10^7", 7),
    ("count x 10", 1),
    ("counts", 0),
    ("count", 0),
];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Skips `word` (ASCII case-insensitively) at the start of `s` if it ends
/// there or is followed by white space or `^`.
fn skip_word<'a>(s: &'a [u8], word: &str) -> Option<&'a [u8]> {
    let w = word.as_bytes();
    if s.len() < w.len() || !s[..w.len()].eq_ignore_ascii_case(w) {
        return None;
    }
    let rest = &s[w.len()..];
    match rest.first() {
        None => Some(rest),
        Some(&b) if is_space(b) || b == b'^' => Some(rest),
        Some(_) => None,
    }
}

/// `^N` exponents pmParseUnitsStr accepts (no `^1` written as such
/// before the two-digit ones, so `^10` is not read as `^1`).
fn skip_exponent(s: &[u8]) -> Option<(&[u8], i32)> {
    for e in (-8..=15).rev() {
        if let Some(rest) = skip_word(s, &format!("^{e}")) {
            return Some((rest, e));
        }
    }
    None
}

/// The length of the longest prefix of `s` that C's strtod would read, and
/// its value; None if there is none.
fn strtod_prefix(s: &[u8]) -> Option<(usize, f64)> {
    // Bytes throughout: the text after a number may be any UTF-8 (or
    // none), and only ASCII is ever read as part of it.
    let bytes = s;
    let mut i = 0;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        i += 1;
    }
    let rest = &bytes[i..];
    for word in ["infinity", "inf", "nan"] {
        if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes()) {
            let n = i + word.len();
            let v: f64 = if word == "nan" {
                f64::NAN
            } else {
                f64::INFINITY
            };
            let v = if bytes.first() == Some(&b'-') { -v } else { v };
            return Some((n, v));
        }
    }
    let digits_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa_digits = i - digits_start;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let f = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        mantissa_digits += i - f;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        let e = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > e {
            i = j;
        }
    }
    std::str::from_utf8(&bytes[..i])
        .ok()?
        .parse::<f64>()
        .ok()
        .map(|v| (i, v))
}

fn parse_part(mut s: &[u8]) -> Result<(Wide, f64), UnitsError> {
    let mut out = Wide::default();
    let mut mult = 1.0f64;
    while let Some(&c) = s.first() {
        if is_space(c) {
            s = &s[1..];
            continue;
        }
        if c == b'-' || c == b'.' || c.is_ascii_digit() {
            let (n, v) = strtod_prefix(s).ok_or(UnitsError::BadNumber)?;
            // strtod reports overflow and underflow as ERANGE, which
            // pmParseUnitsStr refuses.
            let literal_inf = s[..n]
                .iter()
                .any(|b| b.is_ascii_alphabetic() && *b != b'e' && *b != b'E');
            let nonzero_mantissa = s[..n]
                .split(|b| *b == b'e' || *b == b'E')
                .next()
                .is_some_and(|m| m.iter().any(|b| (b'1'..=b'9').contains(b)));
            if (v.is_infinite() && !literal_inf)
                || (nonzero_mantissa && v.abs() < f64::MIN_POSITIVE)
            {
                return Err(UnitsError::BadNumber);
            }
            mult *= v;
            s = &s[n..];
            continue;
        }
        #[derive(PartialEq)]
        enum Dim {
            None,
            Space,
            Time,
            Count,
        }
        let mut dim = Dim::None;
        if out.dim_time == 0 {
            if let Some((rest, scale)) = time_word(s) {
                out.scale_time = scale;
                s = rest;
                dim = Dim::Time;
            }
        }
        if dim == Dim::None && out.dim_space == 0 {
            if let Some((rest, scale)) = space_word(s) {
                out.scale_space = scale;
                s = rest;
                dim = Dim::Space;
            }
        }
        if dim == Dim::None && out.dim_count == 0 {
            for (w, scale) in COUNT_WORDS {
                if let Some(rest) = skip_word(s, w) {
                    out.scale_count = *scale;
                    s = rest;
                    dim = Dim::Count;
                    break;
                }
            }
        }
        let power = match s.first() {
            None => Some(1),
            Some(&b) if is_space(b) => Some(1),
            Some(_) => skip_exponent(s).map(|(rest, e)| {
                s = rest;
                e
            }),
        };
        match dim {
            Dim::None => return Err(UnitsError::Unrecognized),
            Dim::Time => {
                if let Some(p) = power {
                    out.dim_time = p;
                }
            }
            Dim::Space => {
                if let Some(p) = power {
                    out.dim_space = p;
                }
            }
            Dim::Count => {
                if let Some(p) = power {
                    out.dim_count = p;
                }
            }
        }
    }
    Ok((out, mult))
}

fn time_word(s: &[u8]) -> Option<(&[u8], u32)> {
    for (w, scale) in TIME_WORDS {
        if let Some(rest) = skip_word(s, w) {
            return Some((rest, *scale));
        }
    }
    // time-N for any scale code; "time-1" is tried last in libpcp so that
    // "time-10".."time-15" win: the delimiter check makes order moot here.
    for n in 0..=15u32 {
        if let Some(rest) = skip_word(s, &format!("time-{n}")) {
            return Some((rest, n));
        }
    }
    None
}

fn space_word(s: &[u8]) -> Option<(&[u8], u32)> {
    for (words, scale) in SPACE_STEMS {
        for w in *words {
            if let Some(rest) = skip_word(s, w) {
                return Some((rest, *scale));
            }
        }
    }
    for n in 0..=15u32 {
        if let Some(rest) = skip_word(s, &format!("space-{n}")) {
            return Some((rest, n));
        }
    }
    None
}

/// Reads a units specification as `pmParseUnitsStr(3)` does: an optional
/// `/` splits dividend and divisor, each a list of numbers (multiplied
/// into the multiplier) and unit words with optional `^N` powers, each
/// dimension at most once per side. The empty string is dimensionless.
pub fn parse(text: &str) -> Result<ParsedUnits, UnitsError> {
    let bytes = text.as_bytes();
    let (top, bottom) = match bytes.iter().position(|&b| b == b'/') {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    };
    let (dividend, dividend_mult) = parse_part(top)?;
    let (divisor, divisor_mult) = match bottom {
        Some(b) => parse_part(b)?,
        None => (Wide::default(), 1.0),
    };
    let fit = |dim: i32, what: &'static str| -> Result<i8, UnitsError> {
        if (-8..=7).contains(&dim) {
            Ok(dim as i8)
        } else {
            Err(UnitsError::OutOfBounds(what))
        }
    };
    let mut units = Units {
        dim_space: fit(dividend.dim_space - divisor.dim_space, "space")?,
        dim_time: fit(dividend.dim_time - divisor.dim_time, "time")?,
        dim_count: fit(dividend.dim_count - divisor.dim_count, "count")?,
        ..Units::NONE
    };
    let mut mult = divisor_mult / dividend_mult;
    if dividend.dim_space == 0 && divisor.dim_space != 0 {
        units.scale_space = divisor.scale_space as u8;
    } else if divisor.dim_space == 0 && dividend.dim_space != 0 {
        units.scale_space = dividend.scale_space as u8;
    } else {
        units.scale_space = space::BYTE;
        mult *= 1024f64
            .powi(dividend.scale_space as i32)
            .powf(-(dividend.dim_space as f64));
        mult *= 1024f64
            .powi(divisor.scale_space as i32)
            .powf(divisor.dim_space as f64);
        if units.dim_space == 0 {
            units.scale_space = 0;
        }
    }
    if dividend.dim_count == 0 && divisor.dim_count != 0 {
        units.scale_count = divisor.scale_count as i8;
    } else if divisor.dim_count == 0 && dividend.dim_count != 0 {
        units.scale_count = dividend.scale_count as i8;
    } else {
        units.scale_count = 0;
        mult *= 10f64
            .powi(dividend.scale_count)
            .powf(-(dividend.dim_count as f64));
        mult *= 10f64
            .powi(divisor.scale_count)
            .powf(divisor.dim_count as f64);
    }
    if dividend.dim_time == 0 && divisor.dim_time != 0 {
        units.scale_time = divisor.scale_time as u8;
    } else if divisor.dim_time == 0 && dividend.dim_time != 0 {
        units.scale_time = dividend.scale_time as u8;
    } else {
        units.scale_time = time::SEC;
        let secs = |scale: u32| -> Result<f64, UnitsError> {
            Ok(match scale {
                0 => 1e-9,
                1 => 1e-6,
                2 => 1e-3,
                3 => 1.0,
                4 => 60.0,
                5 => 3600.0,
                _ => return Err(UnitsError::TimeScale),
            })
        };
        mult *= secs(dividend.scale_time)?.powf(-(dividend.dim_time as f64));
        mult *= secs(divisor.scale_time)?.powf(divisor.dim_time as f64);
        if units.dim_time == 0 {
            units.scale_time = 0;
        }
    }
    Ok(ParsedUnits {
        units,
        multiplier: mult,
    })
}

mod scale;
pub(crate) use scale::factors;
pub use scale::{conv_scale, convertible};

#[cfg(test)]
mod tests;
