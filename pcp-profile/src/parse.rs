//! Parser of what the profile program prints (`bpftrace -f json`): one
//! JSON object per line. Parsing is separate from I/O: [`parse_line`] and
//! [`parse_key`] take text, so they are tested on lines recorded from a
//! real bpftrace and fuzzed without a process.
//!
//! A stack map is printed as `{"type": "map", "data": {"@cpu": {KEY: N,
//! ...}}}`, where bpftrace renders each key as its parts joined by commas:
//! `KSTACK,USTACK,PID,TID,COMM`. A stack in `perf` mode is empty, or a
//! newline followed by one `\tADDR SYMBOL...\n` line per frame, so it never
//! holds a comma of its own; the command name comes last and may hold
//! anything.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::script::{KeyLayout, MARKER, READY};

/// One line of output.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A keyed map: its name (with `@`) and its entries.
    Keyed(String, Vec<(String, i64)>),
    /// A map without keys: its name and value.
    Scalar(String, i64),
    /// The end of one interval's maps.
    Marker,
    /// Every probe is attached.
    Ready,
    /// bpftrace attached this many probes.
    AttachedProbes(u64),
    /// Events lost in bpftrace's perf buffer.
    LostEvents(u64),
    /// Any other message (its type), ignored.
    Other(String),
}

/// Why a line was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    ty: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}

/// A map's printed data: `{"@name": VALUE}`.
struct MapData(String, MapValue);

enum MapValue {
    Scalar(i64),
    Keyed(Vec<(String, i64)>),
}

impl<'de> Deserialize<'de> for MapData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MapData, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MapData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object holding one map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MapData, A::Error> {
                let Some(name) = m.next_key::<String>()? else {
                    return Err(de::Error::custom("a map message without a map"));
                };
                let value = m.next_value::<MapValue>()?;
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MapData(name, value))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for MapValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MapValue, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MapValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or an object of integers")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MapValue, E> {
                Ok(MapValue::Scalar(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MapValue, E> {
                Ok(MapValue::Scalar(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MapValue, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some((k, v)) = m.next_entry::<String, i64>()? {
                    out.push((k, v));
                }
                Ok(MapValue::Keyed(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses one line of `bpftrace -f json` output. An empty line is `None`.
pub fn parse_line(line: &[u8]) -> Result<Option<Line>, ParseError> {
    let text = std::str::from_utf8(line)
        .map_err(|e| ParseError(format!("not UTF-8: {e}")))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let env: Envelope<'_> = serde_json::from_str(text)
        .map_err(|e| ParseError(format!("not a bpftrace message: {e}")))?;
    let data = env.data.get();
    let bad = |e: serde_json::Error| ParseError(format!("bad {} message: {e}", env.ty));
    Ok(Some(match env.ty.as_ref() {
        "map" => {
            let MapData(name, v) = serde_json::from_str(data).map_err(bad)?;
            match v {
                MapValue::Scalar(n) => Line::Scalar(name, n),
                MapValue::Keyed(kv) => Line::Keyed(name, kv),
            }
        }
        "printf" => {
            let s: String = serde_json::from_str(data).map_err(bad)?;
            if s.trim_end() == MARKER {
                Line::Marker
            } else if s.trim_end() == READY {
                Line::Ready
            } else {
                Line::Other("printf".into())
            }
        }
        "attached_probes" => {
            #[derive(Deserialize)]
            struct P {
                probes: u64,
            }
            Line::AttachedProbes(serde_json::from_str::<P>(data).map_err(bad)?.probes)
        }
        "lost_events" => {
            #[derive(Deserialize)]
            struct L {
                events: u64,
            }
            Line::LostEvents(serde_json::from_str::<L>(data).map_err(bad)?.events)
        }
        other => Line::Other(other.to_string()),
    }))
}

/// A kernel frame as bpftrace printed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelFrame {
    /// The return (or, for the leaf, instruction) address.
    pub addr: u64,
    /// The symbol without its `+offset`, or empty when bpftrace had none.
    pub symbol: String,
}

/// One key of a stack map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackKey {
    /// Kernel frames, leaf first.
    pub kernel: Vec<KernelFrame>,
    /// User addresses, leaf first.
    pub user: Vec<u64>,
    /// Process (thread group) id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The thread's command name.
    pub comm: String,
}

/// Parses one key rendered as `layout` says.
///
/// ```
/// use pcp_profile::parse::parse_key;
/// use pcp_profile::script::KeyLayout;
/// let k = parse_key(
///     "\n\tffffffff81000130 entry_SYSCALL_64+118\n,\n\t55a297812146 0x55a297812146 ([unknown])\n,42,43,my, comm",
///     KeyLayout { kernel: true, user: true },
/// ).unwrap();
/// assert_eq!(k.kernel[0].symbol, "entry_SYSCALL_64");
/// assert_eq!(k.user, vec![0x55a297812146]);
/// assert_eq!((k.pid, k.tid, k.comm.as_str()), (42, 43, "my, comm"));
/// ```
pub fn parse_key(key: &str, layout: KeyLayout) -> Result<StackKey, ParseError> {
    let mut rest = key;
    let mut kernel = Vec::new();
    let mut user = Vec::new();
    if layout.kernel {
        for (addr, sym) in take_stack(&mut rest)? {
            let symbol = match sym.split_once(' ') {
                Some((s, _)) => s,
                None => sym,
            };
            let symbol = match symbol.rfind('+') {
                Some(i) if symbol[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &symbol[..i],
                _ => symbol,
            };
            // An address bpftrace could not name is printed as itself.
            let symbol = if symbol.starts_with("0x") { "" } else { symbol };
            kernel.push(KernelFrame {
                addr,
                symbol: symbol.to_string(),
            });
        }
    }
    if layout.user {
        user = take_stack(&mut rest)?.into_iter().map(|(a, _)| a).collect();
    }
    let mut parts = rest.splitn(3, ',');
    let num = |p: Option<&str>, what: &str| -> Result<u32, ParseError> {
        p.and_then(|s| s.parse().ok())
            .ok_or_else(|| ParseError(format!("stack key without a {what}: {:?}", clip(key))))
    };
    let pid = num(parts.next(), "pid")?;
    let tid = num(parts.next(), "tid")?;
    let comm = parts
        .next()
        .ok_or_else(|| ParseError(format!("stack key without a comm: {:?}", clip(key))))?
        .to_string();
    Ok(StackKey {
        kernel,
        user,
        pid,
        tid,
        comm,
    })
}

/// Takes one stack and its trailing comma off the front of `rest`: frames
/// as (address, text after the address).
fn take_stack<'a>(rest: &mut &'a str) -> Result<Vec<(u64, &'a str)>, ParseError> {
    let s = *rest;
    if let Some(after) = s.strip_prefix(',') {
        *rest = after;
        return Ok(Vec::new());
    }
    let Some(mut body) = s.strip_prefix('\n') else {
        return Err(ParseError(format!(
            "expected a stack or a comma at {:?}",
            clip(s)
        )));
    };
    let mut frames = Vec::new();
    loop {
        if let Some(after) = body.strip_prefix(',') {
            *rest = after;
            return Ok(frames);
        }
        let Some(line) = body.strip_prefix('\t') else {
            return Err(ParseError(format!("bad stack line at {:?}", clip(body))));
        };
        let end = line
            .find('\n')
            .ok_or_else(|| ParseError(format!("unterminated stack line {:?}", clip(line))))?;
        let text = &line[..end];
        let (addr, tail) = text.split_once(' ').unwrap_or((text, ""));
        let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16)
            .map_err(|_| ParseError(format!("bad frame address {:?}", clip(addr))))?;
        frames.push((addr, tail));
        body = &line[end + 1..];
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: KeyLayout = KeyLayout {
        kernel: true,
        user: true,
    };

    #[test]
    fn lines_recorded_from_bpftrace_0_17() {
        let l = parse_line(br#"{"type": "attached_probes", "data": {"probes": 3}}"#).unwrap();
        assert_eq!(l, Some(Line::AttachedProbes(3)));
        let l = parse_line(br#"{"type": "map", "data": {"@cpu_total": 104}}"#).unwrap();
        assert_eq!(l, Some(Line::Scalar("@cpu_total".into(), 104)));
        let l = parse_line(
            br#"{"type": "map", "data": {"@cpu": {",\n\t55a297812146 0x55a297812146 ([unknown])\n\t7f2779d1824a 0x7f2779d1824a ([unknown])\n,23301,23301,hot": 167}}}"#,
        )
        .unwrap()
        .unwrap();
        let Line::Keyed(name, kv) = l else {
            panic!("{l:?}")
        };
        assert_eq!(name, "@cpu");
        assert_eq!(kv.len(), 1);
        assert_eq!(kv[0].1, 167);
        let k = parse_key(&kv[0].0, BOTH).unwrap();
        assert!(k.kernel.is_empty());
        assert_eq!(k.user, vec![0x55a297812146, 0x7f2779d1824a]);
        assert_eq!((k.pid, k.tid, k.comm.as_str()), (23301, 23301, "hot"));
        let l = parse_line(br#"{"type": "printf", "data": "pcp-profile:interval-end\n"}"#).unwrap();
        assert_eq!(l, Some(Line::Marker));
        let l = parse_line(br#"{"type": "lost_events", "data": {"events": 7}}"#).unwrap();
        assert_eq!(l, Some(Line::LostEvents(7)));
        assert_eq!(parse_line(b"  ").unwrap(), None);
    }

    #[test]
    fn kernel_frames_keep_their_symbols() {
        let k = parse_key(
            "\n\tffffffff817e9e0a ext4_mark_iloc_dirty+170\n\tffffffff8124a15a ret_from_fork_asm+26\n,,12667,12667,kworker/u8:3",
            BOTH,
        )
        .unwrap();
        assert_eq!(k.kernel.len(), 2);
        assert_eq!(k.kernel[0].addr, 0xffffffff817e9e0a);
        assert_eq!(k.kernel[0].symbol, "ext4_mark_iloc_dirty");
        assert!(k.user.is_empty());
        assert_eq!(k.comm, "kworker/u8:3");
        let k = parse_key(
            "\n\tffffffffc0001234 0xffffffffc0001234\n,1,1,x",
            KeyLayout {
                kernel: true,
                user: false,
            },
        )
        .unwrap();
        assert_eq!(k.kernel[0].symbol, "");
    }

    #[test]
    fn broken_keys_are_errors_not_panics() {
        for bad in [
            "",
            "\n",
            "\n\tzz foo\n,,1,1,x",
            "\n\tffff foo",
            ",,x,1,c",
            ",,1",
            ",,1,2",
            "\n\tffff foo\n\n,,1,1,x",
        ] {
            assert!(parse_key(bad, BOTH).is_err(), "{bad:?} accepted");
        }
        for bad in [
            &b"{"[..],
            b"[1]",
            b"{\"type\": \"map\", \"data\": {}}",
            b"\xff",
        ] {
            assert!(parse_line(bad).is_err(), "{bad:?} accepted");
        }
    }
}
