//! The `softnet` collector: per-CPU network receive statistics from
//! `/proc/net/softnet_stat` (`network.softnet.*`, summed over the CPUs,
//! and `network.softnet.percpu.*`, per CPU).

use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::parse::{fields, hex, lines, ParseError};
use crate::system::System;
use crate::value::Put;

/// Softnet columns pmdalinux reports, in its item order: processed,
/// dropped, time_squeeze, cpu_collision, received_rps, flow_limit_count.
pub const SOFTNET_COLUMNS: [usize; 6] = [0, 1, 2, 8, 9, 10];

/// The columns a softnet_stat row must have for each of
/// [`SOFTNET_COLUMNS`] to be reported: pmdalinux reads the first eleven
/// and reports the first four counters from nine columns on (2.6.x), the
/// received_rps from ten (2.6.35), the flow_limit_count from eleven
/// (3.11); fewer, and those metrics are "not supported by this version".
pub const SOFTNET_NEEDS: [usize; 6] = [9, 9, 9, 9, 10, 11];

/// The parsed file: each CPU's six counters, and the number of columns of
/// the last row (which pmdalinux goes by; see [`SOFTNET_NEEDS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// (CPU, counters in [`SOFTNET_COLUMNS`] order), in file order.
    pub cpus: Vec<(u32, [u64; 6])>,
    /// Columns of the last row.
    pub columns: usize,
}

/// Parses /proc/net/softnet_stat (one row of hex columns per online
/// CPU). The CPU is the row's 13th column where the kernel prints it
/// (5.10 and later), else the row number.
pub fn parse(buf: &[u8]) -> Result<Stats, ParseError> {
    let mut out = Stats::default();
    let mut cols = [0u64; 16];
    for (row, line) in lines(buf).enumerate() {
        let bad = || ParseError::line("softnet_stat", line);
        let mut n = 0;
        for f in fields(line) {
            if n < cols.len() {
                cols[n] = hex(f).ok_or_else(bad)?;
            }
            n += 1;
        }
        if n < 3 {
            return Err(bad());
        }
        let mut v = [0u64; 6];
        for (slot, &c) in v.iter_mut().zip(SOFTNET_COLUMNS.iter()) {
            *slot = if c < n { cols[c] } else { 0 };
        }
        let cpu = if n >= 13 { cols[12] as u32 } else { row as u32 };
        out.cpus.push((cpu, v));
        out.columns = n;
    }
    Ok(out)
}

/// /proc/net/softnet_stat.
const SOFTNET: Need = Need::new(Id::Softnet, 0);

/// The names of the counters, in [`SOFTNET_COLUMNS`] order, with their
/// help.
const COUNTERS: [(&str, &str, &str); 6] = [
    (
        "processed",
        "packets processed by the receive softirq",
        "Network frames the receive soft interrupt handled",
    ),
    (
        "dropped",
        "packets dropped on a full backlog",
        "Frames dropped because the per-CPU input backlog queue was full",
    ),
    (
        "time_squeeze",
        "receive rounds cut short",
        "Times the receive soft interrupt still had work when its budget or time ran out",
    ),
    (
        "cpu_collision",
        "transmit lock collisions",
        "Times a CPU found the device transmit lock already taken",
    ),
    (
        "received_rps",
        "receive packet steering wake-ups",
        "Times this CPU was woken by another to process packets (receive packet steering)",
    ),
    (
        "flow_limit_count",
        "packets dropped by flow limiting",
        "Frames dropped by the per-flow backlog limit",
    ),
];

fn counter(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    COUNTERS.iter().position(|c| c.0 == rest).map(|i| i as u32)
}

fn help(name: &str) -> (String, String) {
    let last = name.rsplit('.').next().unwrap_or("");
    let (_, one, long) = COUNTERS
        .iter()
        .find(|c| c.0 == last)
        .copied()
        .unwrap_or(("", "", ""));
    if name.starts_with("network.softnet.percpu.") {
        (
            format!("{one}, per CPU"),
            format!("{long}, from /proc/net/softnet_stat. Reported per CPU."),
        )
    } else {
        (
            one.to_string(),
            format!("{long}, from /proc/net/softnet_stat, summed over all CPUs."),
        )
    }
}

/// The collector's state.
#[derive(Debug, Default)]
pub struct Softnet {
    last: Stats,
}

impl Softnet {
    pub(crate) fn new(_: &System) -> Softnet {
        Softnet::default()
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & SOFTNET.bit != 0 {
            let last = &mut self.last;
            sys.parse(SOFTNET, "proc/net/softnet_stat", |b| {
                *last = parse(b)?;
                Ok(())
            });
        }
    }

    /// The counters of column `col`, or "not supported by this version"
    /// when the kernel's rows are too short for it.
    fn rows(&self, col: usize) -> Result<impl Iterator<Item = (u32, u64)> + '_, PmError> {
        if self.last.columns < SOFTNET_NEEDS[col] {
            return Err(PmError::APPVERSION);
        }
        Ok(self.last.cpus.iter().map(move |(cpu, v)| (*cpu, v[col])))
    }
}

/// The softnet collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("network.softnet.", &[SOFTNET], counter, |c, col, out| {
        let total = c
            .softnet
            .rows(col as usize)?
            .fold(0u64, |a, (_, v)| a.wrapping_add(v));
        out.set_u64(total);
        Ok(())
    })
    .made_help(help),
    Binding::family(
        "network.softnet.percpu.",
        &[SOFTNET],
        counter,
        |c, col, out| {
            for (cpu, v) in c.softnet.rows(col as usize)? {
                out.put_u64(cpu, v);
            }
            Ok(())
        },
    )
    .made_help(help),
]];

/// The per-CPU figures use the `cpu` collector's CPU instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softnet_rows() {
        let v = parse(
            b"008dca8c 00000000 00000002 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005 00000000 00000001 00000000 00000000\n",
        )
        .unwrap();
        assert_eq!(v.cpus, vec![(1, [0x8dca8c, 0, 2, 3, 4, 5])]);
        // A 3.10 kernel's ten columns: no flow_limit_count.
        let ten = b"000008ac 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000007\n";
        let v = parse(ten).unwrap();
        assert_eq!(v.columns, 10);
        assert_eq!(v.cpus, vec![(0, [0x8ac, 0, 0, 0, 7, 0])]);
        let v = parse(b"0000000a 00000001 00000002\n0000000b 0 0\n").unwrap();
        assert_eq!(v.columns, 3);
        assert_eq!(v.cpus[1], (1, [11, 0, 0, 0, 0, 0]));
        assert!(parse(b"zz 0 0\n").is_err());
    }
}
