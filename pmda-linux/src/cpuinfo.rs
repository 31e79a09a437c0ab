//! `/proc/cpuinfo` parsed in place: the file's bytes are kept and each
//! CPU's fields are byte ranges into them, so a fetch allocates only for
//! the string values it answers.
//!
//! The rules are those of `procfs::CpuInfo`, which the agent used before
//! (and whose answers the tests compare with pmdalinux's): blocks are
//! separated by blank lines, a block's fields start at its `processor`
//! line, a field's key is the text before the first `:` and its value the
//! text up to the next `:`, both trimmed; a repeated key keeps the last
//! value.

use std::ops::Range;

/// A field's key and value as ranges of the text.
type Field = (Range<usize>, Range<usize>);

/// The CPUs of one read of `/proc/cpuinfo`.
#[derive(Debug, Default)]
pub struct CpuInfo {
    text: String,
    /// Processor number and (key, value) ranges of each CPU, file order.
    cpus: Vec<(u32, Vec<Field>)>,
    /// Number of entries of `cpus` in use (inner vectors are reused).
    n: usize,
}

fn trimmed(base: &str, s: &str) -> Range<usize> {
    let t = s.trim();
    let start = if t.is_empty() {
        s.as_ptr() as usize - base.as_ptr() as usize
    } else {
        t.as_ptr() as usize - base.as_ptr() as usize
    };
    start..start + t.len()
}

impl CpuInfo {
    /// Parses `bytes` (lines that are not UTF-8 are skipped).
    pub fn parse(&mut self, bytes: &[u8]) {
        self.text.clear();
        self.n = 0;
        match std::str::from_utf8(bytes) {
            Ok(s) => self.text.push_str(s),
            Err(_) => {
                // Keep the valid lines only, as a line reader would.
                for line in bytes.split(|&b| b == b'\n') {
                    if let Ok(l) = std::str::from_utf8(line) {
                        self.text.push_str(l);
                        self.text.push('\n');
                    }
                }
            }
        }
        let text = self.text.as_str();
        let mut cur: Option<usize> = None;
        let mut proc_no: Option<u32> = None;
        let mut found_first = false;
        let mut block_open = true;
        let mut pos = 0usize;
        let finish = |cpus: &mut Vec<_>, n: &mut usize, cur: &mut Option<usize>, p: Option<u32>| {
            if let Some(i) = cur.take() {
                match p {
                    Some(p) => {
                        let e: &mut (u32, Vec<Field>) = &mut cpus[i];
                        e.0 = p;
                        *n = i + 1;
                    }
                    // A block without a processor number is not reported.
                    None => *n = i,
                }
            }
        };
        for line in text.split('\n') {
            let start = pos;
            pos += line.len() + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                if block_open {
                    finish(&mut self.cpus, &mut self.n, &mut cur, proc_no.take());
                    block_open = false;
                    found_first = false;
                }
                continue;
            }
            block_open = true;
            let mut it = line.split(':');
            let key = it.next().unwrap_or("");
            if !found_first && key.trim() == "processor" {
                found_first = true;
            }
            if !found_first {
                continue;
            }
            let Some(value) = it.next() else { continue };
            let line_str = &text[start..start + line.len()];
            let k = trimmed(text, &line_str[..key.len()]);
            let voff = key.len() + 1;
            let v = trimmed(text, &line_str[voff..voff + value.len()]);
            let i = match cur {
                Some(i) => i,
                None => {
                    let i = self.n;
                    if self.cpus.len() <= i {
                        self.cpus.push((0, Vec::new()));
                    }
                    self.cpus[i].1.clear();
                    cur = Some(i);
                    i
                }
            };
            if &text[k.clone()] == "processor" {
                proc_no = text[v.clone()].parse::<u32>().ok();
            }
            self.cpus[i].1.push((k, v));
        }
        finish(&mut self.cpus, &mut self.n, &mut cur, proc_no.take());
    }

    /// Processor numbers, file order.
    pub fn processors(&self) -> impl Iterator<Item = u32> + '_ {
        self.cpus[..self.n].iter().map(|(p, _)| *p)
    }

    /// Each processor with its value of `key` (the last one if repeated),
    /// `None` where it has no such field.
    pub fn field<'a>(&'a self, key: &'a str) -> impl Iterator<Item = (u32, Option<&'a str>)> + 'a {
        self.cpus[..self.n].iter().map(move |(p, f)| {
            let v = f
                .iter()
                .rev()
                .find(|(k, _)| &self.text[k.clone()] == key)
                .map(|(_, v)| &self.text[v.clone()]);
            (*p, v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_fields_and_values_match_procfs() {
        let text = "junk : x\nprocessor\t: 0\nvendor_id\t: GenuineIntel\ncpu MHz\t\t: 2200.000\n\
flags\t\t: fpu vme\nempty\t:\nodd\t: a:b\n\nprocessor\t: 1\nvendor_id\t: AMD\nvendor_id\t: Later\n\n\n";
        let mut c = CpuInfo::default();
        for _ in 0..2 {
            c.parse(text.as_bytes());
            assert_eq!(c.processors().collect::<Vec<_>>(), vec![0, 1]);
            let v: Vec<_> = c.field("vendor_id").collect();
            assert_eq!(v, vec![(0, Some("GenuineIntel")), (1, Some("Later"))]);
            let ours: Vec<_> = c.field("odd").collect();
            let theirs = <procfs::CpuInfo as procfs::FromRead>::from_read(text.as_bytes()).unwrap();
            assert_eq!(theirs.get_field(0, "odd"), Some("a"));
            assert_eq!(ours, vec![(0, Some("a")), (1, None)]);
            assert_eq!(c.field("empty").next(), Some((0, Some(""))));
            assert_eq!(c.field("junk").next(), Some((0, None)));
            assert_eq!(c.field("cpu MHz").next(), Some((0, Some("2200.000"))));
        }
        c.parse(b"processor : 3\n");
        assert_eq!(c.processors().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn live_cpuinfo_matches_procfs() {
        let Ok(bytes) = std::fs::read("/proc/cpuinfo") else {
            return;
        };
        let theirs = <procfs::CpuInfo as procfs::FromRead>::from_read(&bytes[..]).unwrap();
        let mut c = CpuInfo::default();
        c.parse(&bytes);
        let mut want = Vec::new();
        for i in 0..theirs.num_cores() {
            let info = theirs.get_info(i).unwrap();
            let Some(n) = info.get("processor").and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            for (k, v) in info {
                want.push((n, k.to_string(), v.to_string()));
            }
        }
        for (n, k, v) in want {
            let got = c.field(&k).find(|(p, _)| *p == n).and_then(|(_, v)| v);
            assert_eq!(got, Some(v.as_str()), "cpu {n} key {k}");
        }
    }
}
