//! PCP's Python PMDA name tables: the id caches pmdaopenmetrics keeps as
//! `$PCP_VAR_DIR/config/pmda/<domain>.<serial>.py` (its
//! `PersistentNameTable`). Each file holds two Python pickles, written
//! with protocol 0: the list of names (a name's id is its position) and a
//! flag (for an instance table: whether instance names carry the
//! `"<id> "` prefix).
//!
//! Only what those files contain is read: lists of strings, booleans and
//! integers, `None`, and the memo opcodes protocol 0 uses. Anything else
//! (another protocol, another type) is an error, never a panic.
//!
//! ```
//! use pcp_core::pytable::{decode, encode};
//! let bytes = encode(&["control".to_string(), "node a\\b\n".to_string()], true);
//! let (names, flag) = decode(&bytes).unwrap();
//! assert_eq!(names, ["control", "node a\\b\n"]);
//! assert_eq!(flag, Some(true));
//! ```

/// Why a table file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Python name table: {0}")]
pub struct TableError(String);

#[derive(Debug, Clone, PartialEq)]
enum Obj {
    Mark,
    List(Vec<Obj>),
    Str(String),
    Int(i64),
    Bool(bool),
    None,
}

/// Reads one pickle from `data` starting at `*pos`; leaves `*pos` after its
/// STOP opcode.
fn load_one(data: &[u8], pos: &mut usize) -> Result<Obj, TableError> {
    let err = |m: String| TableError(m);
    let mut stack: Vec<Obj> = Vec::new();
    let mut memo: std::collections::HashMap<u64, Obj> = std::collections::HashMap::new();
    let line = |pos: &mut usize| -> Result<&[u8], TableError> {
        let rest = &data[*pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| TableError("unterminated argument".into()))?;
        *pos += end + 1;
        Ok(&rest[..end])
    };
    let pop_mark = |stack: &mut Vec<Obj>| -> Result<Vec<Obj>, TableError> {
        let at = stack
            .iter()
            .rposition(|o| *o == Obj::Mark)
            .ok_or_else(|| TableError("no mark on the stack".into()))?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items)
    };
    loop {
        let Some(&op) = data.get(*pos) else {
            return Err(err("ends before its STOP opcode".into()));
        };
        *pos += 1;
        match op {
            b'.' => {
                return match (stack.pop(), stack.is_empty()) {
                    (Some(o), true) => Ok(o),
                    _ => Err(err("stack not one object at STOP".into())),
                }
            }
            b'(' => stack.push(Obj::Mark),
            b'l' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Obj::List(items));
            }
            b']' => stack.push(Obj::List(Vec::new())),
            b'a' => {
                let v = stack
                    .pop()
                    .ok_or_else(|| err("APPEND on empty stack".into()))?;
                match stack.last_mut() {
                    Some(Obj::List(l)) => l.push(v),
                    _ => return Err(err("APPEND to a non-list".into())),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                match stack.last_mut() {
                    Some(Obj::List(l)) => l.extend(items),
                    _ => return Err(err("APPENDS to a non-list".into())),
                }
            }
            b'p' => {
                let n = parse_index(line(pos)?)?;
                let top = stack
                    .last()
                    .ok_or_else(|| err("PUT on empty stack".into()))?;
                memo.insert(n, top.clone());
            }
            b'g' => {
                let n = parse_index(line(pos)?)?;
                let v = memo
                    .get(&n)
                    .ok_or_else(|| err(format!("GET of unknown memo {n}")))?;
                stack.push(v.clone());
            }
            b'0' => {
                stack
                    .pop()
                    .ok_or_else(|| err("POP on empty stack".into()))?;
            }
            b'N' => stack.push(Obj::None),
            b'I' | b'L' => {
                let raw = line(pos)?;
                let text = std::str::from_utf8(raw).map_err(|_| err("bad integer".into()))?;
                let text = text.trim_end_matches('L');
                stack.push(match text {
                    "01" if op == b'I' => Obj::Bool(true),
                    "00" if op == b'I' => Obj::Bool(false),
                    t => Obj::Int(t.parse().map_err(|_| err(format!("bad integer {t:?}")))?),
                });
            }
            b'V' => stack.push(Obj::Str(raw_unicode_unescape(line(pos)?)?)),
            b'S' => stack.push(Obj::Str(repr_unescape(line(pos)?)?)),
            0x80 => {
                return Err(err(format!(
                    "pickle protocol {}",
                    data.get(*pos).unwrap_or(&0)
                )))
            }
            other => return Err(err(format!("unsupported opcode {:?}", other as char))),
        }
    }
}

fn parse_index(raw: &[u8]) -> Result<u64, TableError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TableError("bad memo index".into()))
}

fn hex(digits: &[u8]) -> Result<char, TableError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .and_then(char::from_u32)
        .ok_or_else(|| TableError("bad escape".into()))
}

/// Python's `raw-unicode-escape`: Latin-1 bytes, with `\uXXXX` and
/// `\UXXXXXXXX` for other code points (pickle also escapes `\`, newline,
/// carriage return, NUL and ^Z this way).
fn raw_unicode_unescape(raw: &[u8]) -> Result<String, TableError> {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let width = match (b, raw.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => 0,
        };
        if width > 0 && i + 2 + width <= raw.len() {
            out.push(hex(&raw[i + 2..i + 2 + width])?);
            i += 2 + width;
        } else {
            out.push(b as char);
            i += 1;
        }
    }
    Ok(out)
}

/// A Python 2 `repr()` of a byte string: `'...'` or `"..."` with backslash
/// escapes.
fn repr_unescape(raw: &[u8]) -> Result<String, TableError> {
    let bad = || TableError("bad string literal".into());
    let (&q, rest) = raw.split_first().ok_or_else(bad)?;
    if (q != b'\'' && q != b'"') || rest.last() != Some(&q) {
        return Err(bad());
    }
    let body = &rest[..rest.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let e = *body.get(i + 1).ok_or_else(bad)?;
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' | b'\'' | b'"' => out.push(e),
            b'x' => {
                let h = body.get(i..i + 2).ok_or_else(bad)?;
                out.push(hex(h)? as u32 as u8);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Reads a table file: the names (an entry that is not a string, or an
/// empty string, reads as `""`: its position is taken, its name unknown)
/// and the flag if the file has one.
pub fn decode(data: &[u8]) -> Result<(Vec<String>, Option<bool>), TableError> {
    let mut pos = 0;
    let names = match load_one(data, &mut pos)? {
        Obj::List(items) => items
            .into_iter()
            .map(|o| match o {
                Obj::Str(s) => s,
                Obj::Int(i) => i.to_string(),
                _ => String::new(),
            })
            .collect(),
        _ => return Err(TableError("first pickle is not a list".into())),
    };
    let flag = if pos < data.len() {
        match load_one(data, &mut pos) {
            Ok(Obj::Bool(b)) => Some(b),
            Ok(Obj::Int(i)) => Some(i != 0),
            Ok(_) | Err(_) => None,
        }
    } else {
        None
    };
    Ok((names, flag))
}

/// Writes a table file as Python's `pickle.dump(names, f, protocol=0)`
/// followed by `pickle.dump(flag, f, protocol=0)` does, byte for byte.
pub fn encode(names: &[String], flag: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + names.iter().map(|n| n.len() + 8).sum::<usize>());
    out.extend_from_slice(b"(lp0\n");
    for (i, n) in names.iter().enumerate() {
        out.push(b'V');
        for c in n.chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\u005c"),
                '\n' => out.extend_from_slice(b"\\u000a"),
                '\r' => out.extend_from_slice(b"\\u000d"),
                '\0' => out.extend_from_slice(b"\\u0000"),
                '\u{1a}' => out.extend_from_slice(b"\\u001a"),
                c if (c as u32) < 0x100 => out.push(c as u32 as u8),
                c if (c as u32) < 0x10000 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => out.extend_from_slice(format!("\\U{:08x}", c as u32).as_bytes()),
            }
        }
        out.extend_from_slice(format!("\np{}\na", i + 1).as_bytes());
    }
    out.extend_from_slice(b".");
    out.extend_from_slice(if flag { b"I01\n." } else { b"I00\n." });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by Python 3.11's pickle (protocol 0), as pmdaopenmetrics
    /// does: `pickle.dump(["control", "node", "a\\b\nc \"q\" é"], f, 0)`
    /// then `pickle.dump(True, f, 0)`.
    const PY3: &[u8] =
        b"(lp0\nVcontrol\np1\naVnode\np2\naVa\\u005cb\\u000ac \"q\" \xe9\np3\na.I01\n.";
    /// `pickle.dump(["\x00\r\x1a\u2028"], f, 0)`.
    const PY3_ESCAPES: &[u8] = b"(lp0\nV\\u0000\\u000d\\u001a\\u2028\np1\na.";

    #[test]
    fn reads_what_python_writes() {
        let (names, flag) = decode(PY3).unwrap();
        assert_eq!(names, ["control", "node", "a\\b\nc \"q\" é"]);
        assert_eq!(flag, Some(true));
    }

    #[test]
    fn writes_what_python_writes() {
        let names: Vec<String> = ["control", "node", "a\\b\nc \"q\" é"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(encode(&names, true), PY3);
        assert_eq!(encode(&[], false), b"(lp0\n.I00\n.");
        let odd = vec!["\0\r\x1a\u{2028}".to_string()];
        assert_eq!(&encode(&odd, false)[..PY3_ESCAPES.len()], PY3_ESCAPES);
        assert_eq!(decode(PY3_ESCAPES).unwrap().0, odd);
    }

    #[test]
    fn reads_python2_strings_and_memo_references() {
        let data = b"(lp1\nS'control'\np2\naS'it\\'s'\np3\nag2\na.";
        let (names, flag) = decode(data).unwrap();
        assert_eq!(names, ["control", "it's", "control"]);
        assert_eq!(flag, None);
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        for bad in [
            &b""[..],
            b"(lp0\nVx\np1\na",
            b"\x80\x04]\x94.",
            b"(dp0\n.",
            b"a.",
            b"(lp0\ng9\na.",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
