//! What every parser of the agent shares: the error a file that does not
//! parse gives, and the byte-level helpers (lines, fields, numbers).
//! Parsers take the file's bytes and never open anything, so they are
//! tested on literals and fuzzed (`fuzz/fuzz_targets/linux_procfs.rs`).

/// A file whose contents surprised a parser: what was wrong, usually with
/// the offending line. The agent adds the path when it reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    /// "`what`: `line`" for a line that does not parse.
    pub fn line(what: &str, line: &[u8]) -> ParseError {
        ParseError(format!("{what}: {:?}", String::from_utf8_lossy(line)))
    }

    /// The offending line alone.
    pub fn bad(line: &[u8]) -> ParseError {
        ParseError(String::from_utf8_lossy(line).into_owned())
    }
}

/// Lines of a byte buffer, without the newline; empty lines skipped.
pub(crate) fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// Whitespace-separated fields of a line.
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
}

/// Parses an unsigned decimal number; `None` on anything else.
pub(crate) fn parse_u64(f: &[u8]) -> Option<u64> {
    if f.is_empty() || f.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in f {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(n)
}

/// Parses a signed decimal number and reinterprets it as unsigned, as
/// pmdalinux's `%llu` scanning does with `-1` (it becomes 2^64-1).
pub(crate) fn parse_u64_wrapping(f: &[u8]) -> Option<u64> {
    match f.first() {
        Some(b'-') => parse_u64(&f[1..]).map(|n| n.wrapping_neg()),
        _ => parse_u64(f),
    }
}

/// The first number of a small attribute file (`42\n`), as pmdalinux's
/// `%llu` reads it; `None` when there is none.
pub(crate) fn first_u64(bytes: &[u8]) -> Option<u64> {
    parse_u64_wrapping(fields(bytes).next()?)
}

/// A hexadecimal number.
pub(crate) fn hex(f: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(f).ok()?;
    u64::from_str_radix(s, 16).ok()
}

/// Lowercases ASCII into `out` (cleared first), for case-blind keys.
pub(crate) fn lower_into(src: &[u8], out: &mut String) {
    out.clear();
    for &b in src {
        out.push(b.to_ascii_lowercase() as char);
    }
}

/// An attribute's text without its trailing newline, NULs and blanks.
pub(crate) fn trim_attr(s: &str) -> String {
    s.trim_end_matches(['\n', '\0']).trim_end().to_string()
}

/// Parses a sysfs CPU list (`0-3,8,10-11`) into CPU numbers; ranges of
/// more than 65536 CPUs and words that are not numbers are skipped.
pub fn parse_cpulist(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    if b >= a && b - a < 65536 {
                        out.extend(a..=b);
                    }
                }
            }
            None => {
                if let Ok(a) = part.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly() {
        assert_eq!(parse_u64(b"12345"), Some(12345));
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"99999999999999999999999"), None);
        assert_eq!(parse_u64_wrapping(b"-1"), Some(u64::MAX));
        assert_eq!(first_u64(b"  17 3\n"), Some(17));
        assert_eq!(hex(b"ff"), Some(255));
    }

    #[test]
    fn fields_and_lines_skip_empties() {
        let v: Vec<&[u8]> = fields(b"  a  b\tc ").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(lines(b"x\n\ny\n").count(), 2);
    }

    #[test]
    fn cpulists() {
        assert_eq!(parse_cpulist("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpulist(""), Vec::<u32>::new());
        assert_eq!(parse_cpulist("3-1,x"), Vec::<u32>::new());
    }
}
