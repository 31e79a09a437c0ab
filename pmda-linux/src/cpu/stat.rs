//! `/proc/stat`: CPU time per state (all CPUs and each CPU), interrupts,
//! context switches, forks, boot time, running and blocked tasks.
//!
//! Parsed by hand rather than with `procfs::KernelStats`: pmdalinux names
//! per-CPU instances by the number on each `cpuN` line (CPUs may be
//! offline and missing), and needs the `intr` total, neither of which the
//! procfs struct keeps.

use crate::parse::{fields, lines, parse_u64, ParseError};

/// CPU states in /proc/stat column order.
pub const USER: usize = 0;
/// Niced user time.
pub const NICE: usize = 1;
/// System time.
pub const SYSTEM: usize = 2;
/// Idle time.
pub const IDLE: usize = 3;
/// I/O wait.
pub const IOWAIT: usize = 4;
/// Hard interrupts.
pub const IRQ: usize = 5;
/// Soft interrupts.
pub const SOFTIRQ: usize = 6;
/// Steal.
pub const STEAL: usize = 7;
/// Guest.
pub const GUEST: usize = 8;
/// Niced guest.
pub const GUEST_NICE: usize = 9;

/// Ticks per state for one CPU line (missing columns are zero).
pub type CpuTicks = [u64; 10];

/// The parsed file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// The `cpu` line.
    pub all: CpuTicks,
    /// Each `cpuN` line: (N, ticks), in file order.
    pub cpus: Vec<(u32, CpuTicks)>,
    /// First number of the `intr` line.
    pub intr: Option<u64>,
    /// `ctxt`.
    pub ctxt: Option<u64>,
    /// `btime`.
    pub btime: Option<u64>,
    /// `processes`.
    pub processes: Option<u64>,
    /// `procs_running`.
    pub running: Option<u64>,
    /// `procs_blocked`.
    pub blocked: Option<u64>,
}

fn ticks<'a>(it: impl Iterator<Item = &'a [u8]>, line: &[u8]) -> Result<CpuTicks, ParseError> {
    let mut t = [0u64; 10];
    let mut n = 0;
    for (slot, f) in t.iter_mut().zip(it) {
        *slot = parse_u64(f).ok_or_else(|| bad(line))?;
        n += 1;
    }
    if n < 4 {
        return Err(bad(line));
    }
    Ok(t)
}

fn bad(line: &[u8]) -> ParseError {
    ParseError::bad(line)
}

impl Stat {
    /// Parses the file's bytes.
    pub fn parse(buf: &[u8]) -> Result<Stat, ParseError> {
        let mut s = Stat::default();
        let mut seen_all = false;
        for line in lines(buf) {
            let mut it = fields(line);
            let Some(key) = it.next() else { continue };
            if key == b"cpu" {
                s.all = ticks(it, line)?;
                seen_all = true;
            } else if let Some(num) = key.strip_prefix(b"cpu") {
                let n = parse_u64(num)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad(line))?;
                s.cpus.push((n, ticks(it, line)?));
            } else {
                let v = it.next().and_then(parse_u64);
                match key {
                    b"intr" => s.intr = v,
                    b"ctxt" => s.ctxt = v,
                    b"btime" => s.btime = v,
                    b"processes" => s.processes = v,
                    b"procs_running" => s.running = v,
                    b"procs_blocked" => s.blocked = v,
                    _ => {}
                }
            }
        }
        if !seen_all {
            return Err(ParseError("no aggregate cpu line".into()));
        }
        Ok(s)
    }
}

/// Converts ticks to milliseconds as pmdalinux does (`1000 * ticks / hz`,
/// computed in floating point and truncated).
pub fn ticks_to_ms(ticks: u64, hz: u64) -> u64 {
    (1000.0 * ticks as f64 / hz.max(1) as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lines_and_totals() {
        let text = b"cpu  3946 0 2730 105022 340 0 39 7 0 0\ncpu0 1621 0 1147 53228 29 0 9 2 0 0\n\
cpu3 2325 0 1583 51794 311 0 29 5 0 0\nintr 210146 0 0 1\nctxt 433160\nbtime 1795450441\n\
processes 9557\nprocs_running 1\nprocs_blocked 0\nsoftirq 1 2 3\n";
        let s = Stat::parse(text).unwrap();
        assert_eq!(s.all[USER], 3946);
        assert_eq!(s.all[STEAL], 7);
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[1].0, 3);
        assert_eq!(s.intr, Some(210146));
        assert_eq!(s.ctxt, Some(433160));
        assert_eq!(s.running, Some(1));
        assert_eq!(ticks_to_ms(3946, 100), 39460);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Stat::parse(b"cpu x y z\n").is_err());
        assert!(Stat::parse(b"").is_err());
        assert!(Stat::parse(b"cpu 1 2 3 4\ncpuQ 1 2 3 4\n").is_err());
    }
}
