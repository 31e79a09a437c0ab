//! `/proc/interrupts` and `/proc/softirqs`: a header naming the CPUs
//! (`CPU0 CPU1 ...`), then one row per interrupt line (or softirq kind):
//! `NAME: count count ... [description]`.
//!
//! pmdalinux makes one instance per row (named by the row's label, `24`,
//! `NMI`, `TIMER`) and one per row and CPU (`24::cpu0`); the `ERR` and
//! `MIS` rows of /proc/interrupts are not lines but the error and missed
//! interrupt totals. Rows may have fewer counts than there are CPUs (ERR,
//! MIS); missing counts are left out.

use crate::parse::{fields, lines, parse_u64, ParseError};

/// One row: its label, its description (whitespace collapsed) and its
/// count on each CPU of the header (`None` where the row has no column).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IrqRow {
    /// The label before the colon (`24`, `NMI`, `TIMER`).
    pub name: String,
    /// What follows the counts, words separated by single spaces.
    pub text: String,
    /// Counts per header CPU, in header order.
    pub counts: Vec<u64>,
}

impl IrqRow {
    /// The row's total over all CPUs.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.wrapping_add(c))
    }
}

/// A parsed /proc/interrupts or /proc/softirqs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IrqTable {
    /// CPU numbers from the header, in column order.
    pub cpus: Vec<u32>,
    /// The rows (ERR and MIS excluded).
    pub rows: Vec<IrqRow>,
    /// The ERR row's value, if present.
    pub errors: Option<u64>,
    /// The MIS row's value, if present.
    pub missed: Option<u64>,
}

impl IrqTable {
    /// Parses `buf` into `self`, reusing its buffers.
    pub fn parse(&mut self, buf: &[u8]) -> Result<(), ParseError> {
        let mut it = lines(buf);
        let header = it
            .next()
            .ok_or_else(|| ParseError("empty file".to_string()))?;
        self.cpus.clear();
        for f in fields(header) {
            let n = f.strip_prefix(b"CPU").and_then(parse_u64).ok_or_else(|| {
                ParseError(format!("header {:?}", String::from_utf8_lossy(header)))
            })?;
            self.cpus.push(n as u32);
        }
        self.errors = None;
        self.missed = None;
        let mut n = 0;
        for line in it {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(ParseError(format!(
                    "no colon in {:?}",
                    String::from_utf8_lossy(line)
                )));
            };
            let name = std::str::from_utf8(&line[..colon])
                .map_err(|_| ParseError("label is not UTF-8".to_string()))?
                .trim();
            let rest = &line[colon + 1..];
            if name == "ERR" || name == "MIS" {
                let v = fields(rest).next().and_then(parse_u64);
                if name == "ERR" {
                    self.errors = v;
                } else {
                    self.missed = v;
                }
                continue;
            }
            if n == self.rows.len() {
                self.rows.push(IrqRow::default());
            }
            let row = &mut self.rows[n];
            if row.name != name {
                row.name.clear();
                row.name.push_str(name);
            }
            row.counts.clear();
            row.text.clear();
            let mut counting = true;
            for f in fields(rest) {
                if counting && row.counts.len() < self.cpus.len() {
                    if let Some(v) = parse_u64(f) {
                        row.counts.push(v);
                        continue;
                    }
                }
                counting = false;
                if !row.text.is_empty() {
                    row.text.push(' ');
                }
                row.text.push_str(&String::from_utf8_lossy(f));
            }
            n += 1;
        }
        self.rows.truncate(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERRUPTS: &str = "           CPU0       CPU1       \n  \
 24:          1          0  IO-APIC   5-edge      ACPI:Ged\n \
NMI:          0          0   Non-maskable interrupts\n\
LOC:     434087     445737   Local timer interrupts\n\
ERR:          3\n\
MIS:          4\n\
PIN:          0          0   Posted-interrupt notification event\n";

    #[test]
    fn interrupts_rows_totals_and_text() {
        let mut t = IrqTable::default();
        t.parse(INTERRUPTS.as_bytes()).unwrap();
        assert_eq!(t.cpus, vec![0, 1]);
        let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["24", "NMI", "LOC", "PIN"]);
        assert_eq!(t.rows[0].text, "IO-APIC 5-edge ACPI:Ged");
        assert_eq!(t.rows[2].counts, vec![434087, 445737]);
        assert_eq!(t.rows[2].total(), 879824);
        assert_eq!((t.errors, t.missed), (Some(3), Some(4)));
        // Reparse with a row gone: buffers are reused, stale rows dropped.
        t.parse(b"CPU0 CPU2\n 1: 5 6 x\n").unwrap();
        assert_eq!(t.cpus, vec![0, 2]);
        assert_eq!(t.rows.len(), 1);
        assert_eq!((t.rows[0].name.as_str(), t.rows[0].total()), ("1", 11));
        assert_eq!(t.errors, None);
    }

    #[test]
    fn softirqs_and_bad_files() {
        let mut t = IrqTable::default();
        t.parse(b"        CPU0   CPU1\n     HI:   0   1\n  TIMER: 80552 86130\n")
            .unwrap();
        assert_eq!(t.rows[1].name, "TIMER");
        assert_eq!(t.rows[1].text, "");
        assert!(t.parse(b"").is_err());
        assert!(t.parse(b"CPU0 junk\n").is_err());
        assert!(t.parse(b"CPU0\nno colon here\n").is_err());
    }
}
