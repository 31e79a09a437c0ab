//! File access under the configurable root, with reusable buffers, and
//! the small byte-level parsing helpers the sources share.
//!
//! Every path the agent opens is `ROOT/<relative>`; nothing here knows the
//! real `/proc`. Buffers belong to the caller and are reused from fetch to
//! fetch, so a steady-state fetch allocates nothing to read its files.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use pcp_core::PmError;

/// Reads `root/rel` into `buf` (cleared first). Returns the bytes read or
/// the errno of the failure as a [`PmError`] (a missing file gives
/// `-ENOENT`, as pmdalinux reports it).
pub(crate) fn read_into<'b>(
    root: &Path,
    rel: &str,
    buf: &'b mut Vec<u8>,
) -> Result<&'b [u8], PmError> {
    buf.clear();
    let path = root.join(rel);
    let mut f = File::open(&path).map_err(|e| io_err(&e))?;
    f.read_to_end(buf).map_err(|e| io_err(&e))?;
    Ok(&buf[..])
}

/// Reads a small sysfs or /proc/sys attribute and trims the trailing
/// newline; `None` when it cannot be read (sysfs answers EINVAL for
/// attributes a device does not support).
pub(crate) fn read_attr(path: &Path, buf: &mut Vec<u8>) -> Option<String> {
    buf.clear();
    let mut f = File::open(path).ok()?;
    f.read_to_end(buf).ok()?;
    let s = std::str::from_utf8(buf).ok()?;
    Some(s.trim_end_matches(['\n', '\0']).trim_end().to_string())
}

/// The errno of an I/O error as a PCP error (`-errno`), `-EIO` if none.
pub(crate) fn io_err(e: &io::Error) -> PmError {
    PmError::from_errno(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Lines of a byte buffer, without the newline.
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

/// Lowercases ASCII into `out` (cleared first), for case-blind keys.
pub(crate) fn lower_into(src: &[u8], out: &mut String) {
    out.clear();
    for &b in src {
        out.push(b.to_ascii_lowercase() as char);
    }
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
    }

    #[test]
    fn fields_and_lines_skip_empties() {
        let v: Vec<&[u8]> = fields(b"  a  b\tc ").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(lines(b"x\n\ny\n").count(), 2);
    }
}
