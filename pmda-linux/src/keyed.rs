//! Files of named numbers (`/proc/meminfo`, `/proc/vmstat`,
//! `/proc/net/snmp`, `/proc/net/netstat`, `/proc/net/snmp6`,
//! `/proc/net/sockstat*`): one parser per layout, all filling a [`Keyed`]
//! table whose slots were assigned once, at start-up, when the metrics
//! were matched to their bindings. A fetch then costs one hash lookup per
//! line and no allocation.
//!
//! Keys are lowercase: `section.field` for files with sections
//! (`tcp.activeopens`, `tcpext.tcpofoqueue`, `tcp.inuse`), the bare field
//! name otherwise (`pgfault`, `memtotal`, `ip6inreceives`).

use std::collections::HashMap;

use crate::parse::{fields, lines, lower_into, parse_u64, parse_u64_wrapping, ParseError};

/// A table of named values with slots fixed at start-up.
#[derive(Debug, Clone, Default)]
pub struct Keyed {
    slots: HashMap<String, usize>,
    /// The value in each slot after the last parse (`None`: not in the file).
    pub values: Vec<Option<u64>>,
    key: String,
}

impl Keyed {
    /// An empty table.
    pub fn new() -> Keyed {
        Keyed::default()
    }

    /// The slot of `key` (lowercase), creating it if new.
    pub fn slot(&mut self, key: &str) -> usize {
        if let Some(&s) = self.slots.get(key) {
            return s;
        }
        let s = self.values.len();
        self.values.push(None);
        self.slots.insert(key.to_string(), s);
        s
    }

    /// The slot of `key` if it has one.
    pub fn existing_slot(&self, key: &str) -> Option<usize> {
        self.slots.get(key).copied()
    }

    /// The value of slot `s`.
    pub fn get(&self, s: usize) -> Option<u64> {
        self.values.get(s).copied().flatten()
    }

    fn clear(&mut self) {
        self.values.iter_mut().for_each(|v| *v = None);
    }

    fn set_current(&mut self, v: u64) {
        if let Some(&s) = self.slots.get(self.key.as_str()) {
            self.values[s] = Some(v);
        }
    }

    /// `Key:   value [kB]` lines (`/proc/meminfo`); keys lose the colon.
    pub fn parse_colon(&mut self, buf: &[u8]) -> Result<(), ParseError> {
        self.clear();
        let mut any = false;
        for line in lines(buf) {
            let mut it = fields(line);
            let (Some(k), Some(v)) = (it.next(), it.next()) else {
                continue;
            };
            let Some(k) = k.strip_suffix(b":") else {
                return Err(ParseError::bad(line));
            };
            let v = parse_u64(v).ok_or_else(|| ParseError::bad(line))?;
            lower_into(k, &mut self.key);
            self.set_current(v);
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(ParseError("no values".into()))
        }
    }

    /// `key value` lines (`/proc/vmstat`, `/proc/net/snmp6`).
    pub fn parse_space(&mut self, buf: &[u8]) -> Result<(), ParseError> {
        self.clear();
        let mut any = false;
        for line in lines(buf) {
            let mut it = fields(line);
            let (Some(k), Some(v)) = (it.next(), it.next()) else {
                continue;
            };
            let v = parse_u64_wrapping(v).ok_or_else(|| ParseError::bad(line))?;
            lower_into(k, &mut self.key);
            self.set_current(v);
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(ParseError("no values".into()))
        }
    }

    /// Pairs of lines `Section: Name1 Name2 ...` / `Section: v1 v2 ...`
    /// (`/proc/net/snmp`, `/proc/net/netstat`); keys `section.name`.
    /// Negative values (Tcp MaxConn -1) wrap to unsigned as pmdalinux's
    /// scanning does.
    pub fn parse_header_pairs(&mut self, buf: &[u8], clear: bool) -> Result<(), ParseError> {
        if clear {
            self.clear();
        }
        let mut it = lines(buf);
        while let Some(head) = it.next() {
            let Some(vals) = it.next() else {
                return Err(ParseError(format!(
                    "no values after {}",
                    String::from_utf8_lossy(head)
                )));
            };
            let mut h = fields(head);
            let mut v = fields(vals);
            let (Some(hs), Some(vs)) = (h.next(), v.next()) else {
                continue;
            };
            if hs != vs || !hs.ends_with(b":") {
                return Err(ParseError(format!(
                    "mismatched sections {} / {}",
                    String::from_utf8_lossy(hs),
                    String::from_utf8_lossy(vs)
                )));
            }
            let section = &hs[..hs.len() - 1];
            for (name, val) in h.zip(v) {
                let val = parse_u64_wrapping(val).ok_or_else(|| ParseError::bad(vals))?;
                self.set_section_name(section, name, val);
            }
        }
        Ok(())
    }

    /// Sets the value of key `section.name`, both lower-cased.
    fn set_section_name(&mut self, section: &[u8], name: &[u8], val: u64) {
        lower_into(section, &mut self.key);
        self.key.push('.');
        for &b in name {
            self.key.push(b.to_ascii_lowercase() as char);
        }
        self.set_current(val);
    }

    /// `SECTION: name value name value ...` lines (`/proc/net/sockstat`);
    /// keys `section.name`.
    pub fn parse_sockstat(&mut self, buf: &[u8], clear: bool) -> Result<(), ParseError> {
        if clear {
            self.clear();
        }
        for line in lines(buf) {
            let mut it = fields(line);
            let Some(sec) = it.next() else { continue };
            let Some(sec) = sec.strip_suffix(b":") else {
                return Err(ParseError::bad(line));
            };
            while let (Some(name), Some(val)) = (it.next(), it.next()) {
                let val = parse_u64_wrapping(val).ok_or_else(|| ParseError::bad(line))?;
                self.set_section_name(sec, name, val);
            }
        }
        Ok(())
    }
}

/// How a metric's value comes from a [`Keyed`] table: a slot, and what
/// pmdalinux does when the kernel does not print that key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derive {
    /// The key's value, none without it.
    None,
    /// Else the sum of these slots (any present).
    SumIfMissing(usize, usize),
    /// The sum of these slots that are present (the slot itself is not
    /// used), 0 if none is.
    Total(Vec<usize>),
    /// Else this other slot's value.
    Fallback(usize),
    /// Else 0.
    OrZero,
}

/// One metric's value in a [`Keyed`] table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The key's slot.
    pub slot: usize,
    /// What stands in for a missing key.
    pub derive: Derive,
}

impl Keyed {
    /// The value of `f` after the last parse.
    pub fn value(&self, f: &Field) -> Option<u64> {
        let sum = |slots: &[usize]| -> Option<u64> {
            let mut any = false;
            let mut total = 0u64;
            for &s in slots {
                if let Some(v) = self.get(s) {
                    any = true;
                    total = total.wrapping_add(v);
                }
            }
            any.then_some(total)
        };
        match &f.derive {
            Derive::None => self.get(f.slot),
            Derive::Fallback(other) => self.get(f.slot).or_else(|| self.get(*other)),
            Derive::OrZero => Some(self.get(f.slot).unwrap_or(0)),
            Derive::SumIfMissing(a, b) => self.get(f.slot).or_else(|| sum(&[*a, *b])),
            Derive::Total(slots) => Some(sum(slots).unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_layout() {
        let mut k = Keyed::new();
        let total = k.slot("memtotal");
        let huge = k.slot("hugepages_total");
        let absent = k.slot("memshared");
        k.parse_colon(b"MemTotal:       24684092 kB\nHugePages_Total:       0\nOther: 5 kB\n")
            .unwrap();
        assert_eq!(k.get(total), Some(24684092));
        assert_eq!(k.get(huge), Some(0));
        assert_eq!(k.get(absent), None);
        assert!(k.parse_colon(b"MemTotal 5 kB\n").is_err());
    }

    #[test]
    fn snmp_layout_and_negative_values() {
        let mut k = Keyed::new();
        let maxconn = k.slot("tcp.maxconn");
        let opens = k.slot("tcp.activeopens");
        let text =
            b"Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens\nTcp: 1 200 120000 -1 55\n";
        k.parse_header_pairs(text, true).unwrap();
        assert_eq!(k.get(maxconn), Some(u64::MAX));
        assert_eq!(k.get(opens), Some(55));
        assert!(k.parse_header_pairs(b"Tcp: A B\nUdp: 1 2\n", true).is_err());
        assert!(k.parse_header_pairs(b"Tcp: A B\n", true).is_err());
    }

    #[test]
    fn sockstat_layout() {
        let mut k = Keyed::new();
        let used = k.slot("sockets.used");
        let tw = k.slot("tcp.tw");
        let frag = k.slot("frag.memory");
        k.parse_sockstat(b"sockets: used 32\nTCP: inuse 7 orphan 0 tw 3 alloc 8 mem 130\nFRAG: inuse 0 memory 9\n", true).unwrap();
        assert_eq!(
            (k.get(used), k.get(tw), k.get(frag)),
            (Some(32), Some(3), Some(9))
        );
    }
}
