//! Parsers for control-group files, each over the file's bytes: single
//! values (`memory.usage_in_bytes`, `cpu.shares`, `cpuset.cpus`), keyed
//! statistics (`memory.stat`, `cpu.stat`, `cpuacct.stat`), per-CPU usage
//! (`cpuacct.usage_percpu`), v1 block I/O statistics (`MAJ:MIN Op N`
//! lines of `blkio.*`), v2 I/O statistics (`MAJ:MIN rbytes=N ...` lines of
//! `io.stat`) and pressure stall files (`some avg10=... total=...`).

use std::collections::HashMap;

/// The first line, trimmed (`None` when empty).
pub fn line(text: &[u8]) -> Option<String> {
    let t = String::from_utf8_lossy(text);
    let l = t.lines().next()?.trim();
    (!l.is_empty()).then(|| l.to_string())
}

/// The first line as an unsigned number (`max` reads as `u64::MAX`).
pub fn number(text: &[u8]) -> Option<u64> {
    let l = line(text)?;
    if l == "max" {
        return Some(u64::MAX);
    }
    l.split_whitespace().next()?.parse().ok()
}

/// The first line as a signed number.
pub fn signed(text: &[u8]) -> Option<i64> {
    line(text)?.split_whitespace().next()?.parse().ok()
}

/// `key value` lines.
pub fn keyed(text: &[u8]) -> HashMap<String, u64> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let k = w.next()?;
            let v = w.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// Space-separated per-CPU values of the first line.
pub fn per_cpu(text: &[u8]) -> Vec<u64> {
    let t = String::from_utf8_lossy(text);
    t.lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map_while(|w| w.parse().ok())
        .collect()
}

/// The operations of a v1 block I/O statistic.
pub const OPS: [&str; 5] = ["Read", "Write", "Sync", "Async", "Total"];

/// A v1 `blkio.*` file: per device (`MAJ:MIN`), the value of each
/// operation in [`OPS`] order (files with one value per device, such as
/// `blkio.sectors`, fill the last slot).
pub fn blkio(text: &[u8]) -> Vec<((u32, u32), [u64; 5])> {
    let mut out: Vec<((u32, u32), [u64; 5])> = Vec::new();
    for l in String::from_utf8_lossy(text).lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let Some(dev) = w.first().and_then(|d| devt(d)) else {
            continue;
        };
        let (slot, value) = match w.as_slice() {
            [_, op, v] => match OPS.iter().position(|o| o == op) {
                Some(i) => (i, v.parse().unwrap_or(0)),
                None => continue,
            },
            [_, v] => (4, v.parse().unwrap_or(0)),
            _ => continue,
        };
        match out.iter_mut().find(|(d, _)| *d == dev) {
            Some((_, vals)) => vals[slot] = value,
            None => {
                let mut vals = [0u64; 5];
                vals[slot] = value;
                out.push((dev, vals));
            }
        }
    }
    out
}

/// `MAJ:MIN`.
pub fn devt(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The fields of a v2 `io.stat` line, in pmdaproc's item order.
pub const IO_KEYS: [&str; 6] = ["rbytes", "wbytes", "rios", "wios", "dbytes", "dios"];

/// A v2 `io.stat`: per device, [`IO_KEYS`] values.
pub fn io_stat(text: &[u8]) -> Vec<((u32, u32), [u64; 6])> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let dev = devt(w.next()?)?;
            let mut vals = [0u64; 6];
            for kv in w {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                if let Some(i) = IO_KEYS.iter().position(|x| *x == k) {
                    vals[i] = v.parse().unwrap_or(0);
                }
            }
            Some((dev, vals))
        })
        .collect()
}

/// One line of a pressure file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    /// Share of time stalled over 10 s.
    pub avg10: f32,
    /// Over 60 s.
    pub avg60: f32,
    /// Over 300 s.
    pub avg300: f32,
    /// Total stall time, microseconds.
    pub total: u64,
}

/// A pressure file: its `some` and `full` lines.
pub fn pressure(text: &[u8]) -> (Option<Pressure>, Option<Pressure>) {
    let mut some = None;
    let mut full = None;
    for l in String::from_utf8_lossy(text).lines() {
        let mut w = l.split_whitespace();
        let which = w.next();
        let mut p = Pressure::default();
        let mut got = 0;
        for kv in w {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => p.avg10 = v.parse().unwrap_or(0.0),
                "avg60" => p.avg60 = v.parse().unwrap_or(0.0),
                "avg300" => p.avg300 = v.parse().unwrap_or(0.0),
                "total" => p.total = v.parse().unwrap_or(0),
                _ => continue,
            }
            got += 1;
        }
        if got == 4 {
            match which {
                Some("some") => some = Some(p),
                Some("full") => full = Some(p),
                _ => {}
            }
        }
    }
    (some, full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format() {
        assert_eq!(number(b"max\n"), Some(u64::MAX));
        assert_eq!(signed(b"-1\n"), Some(-1));
        assert_eq!(keyed(b"cache 4096\nrss 8192\n")["rss"], 8192);
        assert_eq!(per_cpu(b"10 20 30 \n"), vec![10, 20, 30]);
        let b =
            blkio(b"8:0 Read 10\n8:0 Write 5\n8:0 Sync 1\n8:0 Async 14\n8:0 Total 15\nTotal 15\n");
        assert_eq!(b, vec![((8, 0), [10, 5, 1, 14, 15])]);
        assert_eq!(blkio(b"8:0 4096\n8:16 8\n")[1], ((8, 16), [0, 0, 0, 0, 8]));
        let io = io_stat(b"8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(io, vec![((8, 0), [10, 20, 1, 2, 0, 0])]);
        let (s, f) = pressure(b"some avg10=0.50 avg60=0.10 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
        assert_eq!(s.unwrap().total, 1234);
        assert_eq!(f.unwrap().total, 7);
        assert_eq!(pressure(b"garbage"), (None, None));
    }
}
