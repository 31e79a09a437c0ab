//! The `pressure` collector: pressure stall information from
//! `/proc/pressure/{cpu,memory,io,irq}` (`kernel.all.pressure.*`). It
//! owns the instance domain of averaging periods.

use pcp_core::{Instance, PmError};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::parse::ParseError;
use crate::system::{Failure, System};
use crate::value::Put;

/// The resources, in source order: each its file.
const FILES: [&str; 4] = [
    "proc/pressure/cpu",
    "proc/pressure/memory",
    "proc/pressure/io",
    "proc/pressure/irq",
];
const CPU: Need = Need::new(Id::Pressure, 0);
const MEMORY: Need = Need::new(Id::Pressure, 1);
const IO: Need = Need::new(Id::Pressure, 2);
const IRQ: Need = Need::new(Id::Pressure, 3);
const NEEDS: [Need; 4] = [CPU, MEMORY, IO, IRQ];

/// pmdalinux's averaging periods: (id, name).
const PERIODS: [(u32, &str); 3] = [(10, "10 second"), (60, "1 minute"), (300, "5 minute")];

/// The averages (10 s, 1 min, 5 min, percent) and total stall time
/// (microseconds) of one line.
pub type Stall = ([f32; 3], u64);

/// The figures of one resource: its `some` and `full` lines, either of
/// which may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stalls {
    /// Some tasks stalled.
    pub some: Option<Stall>,
    /// All non-idle tasks stalled.
    pub full: Option<Stall>,
}

/// Parses a /proc/pressure file: `some avg10=A avg60=B avg300=C total=T`
/// and a `full` line, either of which may be missing: the kernel writes
/// no `full` line for cpu before 5.13 and no `some` line for irq (6.1 on).
pub fn parse(buf: &[u8]) -> Result<Stalls, ParseError> {
    let bad = || ParseError("not some/full avg10/avg60/avg300/total lines".into());
    let text = std::str::from_utf8(buf).map_err(|_| bad())?;
    let mut p = Stalls::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let kind = it.next().ok_or_else(bad)?;
        let mut avg = [0f32; 3];
        let mut total = None;
        for kv in it {
            let (k, v) = kv.split_once('=').ok_or_else(bad)?;
            match k {
                "avg10" => avg[0] = v.parse().map_err(|_| bad())?,
                "avg60" => avg[1] = v.parse().map_err(|_| bad())?,
                "avg300" => avg[2] = v.parse().map_err(|_| bad())?,
                "total" => total = Some(v.parse().map_err(|_| bad())?),
                _ => {}
            }
        }
        let entry = Some((avg, total.ok_or_else(bad)?));
        match kind {
            "some" => p.some = entry,
            "full" => p.full = entry,
            _ => return Err(bad()),
        }
    }
    if p.some.is_none() && p.full.is_none() {
        return Err(bad());
    }
    Ok(p)
}

/// The collector's state.
#[derive(Debug, Default)]
pub struct Pressure {
    resources: [Stalls; 4],
}

impl Pressure {
    pub(crate) fn new(_: &System) -> Pressure {
        Pressure::default()
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        for (i, need) in NEEDS.iter().enumerate() {
            if want & need.bit == 0 {
                continue;
            }
            let p = &mut self.resources[i];
            sys.load(*need, FILES[i], |r| match r {
                // A kernel without pressure stall information (or without
                // irq pressure) has no values, as pmdalinux reports it.
                Err(e) if e == PmError::from_errno(libc::ENOENT) => {
                    *p = Stalls::default();
                    Ok(())
                }
                Err(e) => Err(Failure::Errno(e)),
                Ok(b) => {
                    *p = parse(b)?;
                    Ok(())
                }
            });
        }
    }
}

/// Which figure of a resource `SOME_OR_FULL.avg|total` names: bit 1 full,
/// bit 0 total.
fn figure(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    let (kind, stat) = rest.split_once('.')?;
    let full = match kind {
        "some" => 0,
        "full" => 2,
        _ => return None,
    };
    let total = match stat {
        "avg" => 0,
        "total" => 1,
        _ => return None,
    };
    Some(full | total)
}

fn value(
    c: &Collectors,
    r: usize,
    f: u32,
    out: &mut pcp_core::agent::Sink<'_>,
) -> Result<(), PmError> {
    let p = &c.pressure.resources[r];
    let Some((avg, total)) = (if f & 2 != 0 { p.full } else { p.some }) else {
        return Ok(());
    };
    if f & 1 != 0 {
        out.set_u64(total);
    } else {
        for ((id, _), a) in PERIODS.iter().zip(avg) {
            out.put_f64(*id, f64::from(a));
        }
    }
    Ok(())
}

fn help(name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('.').collect();
    let (res, kind, stat) = (parts[3], parts[4], parts[5]);
    let who = if kind == "some" {
        "some tasks"
    } else {
        "all non-idle tasks"
    };
    if stat == "avg" {
        (
            format!("{res} pressure averages ({kind})"),
            format!("Percentage of time {who} were stalled waiting for {res}, averaged over 10 seconds, 1 and 5 minutes, from /proc/pressure/{res}."),
        )
    } else {
        (
            format!("{res} stall time ({kind})"),
            format!("Total microseconds {who} were stalled waiting for {res}, from /proc/pressure/{res}."),
        )
    }
}

/// The pressure collector's metrics: one family per resource.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("kernel.all.pressure.cpu.", &[CPU], figure, |c, f, out| {
        value(c, 0, f, out)
    })
    .made_help(help),
    Binding::family(
        "kernel.all.pressure.memory.",
        &[MEMORY],
        figure,
        |c, f, out| value(c, 1, f, out),
    )
    .made_help(help),
    Binding::family("kernel.all.pressure.io.", &[IO], figure, |c, f, out| {
        value(c, 2, f, out)
    })
    .made_help(help),
    Binding::family("kernel.all.pressure.irq.", &[IRQ], figure, |c, f, out| {
        value(c, 3, f, out)
    })
    .made_help(help),
]];

/// The averaging periods.
pub(crate) const INDOMS: &[IndomBinding] =
    &[IndomBinding::new(descs::PRESSURE.serial, &[], |_| {
        PERIODS
            .iter()
            .map(|(id, n)| Instance::new(*id, *n))
            .collect()
    })
    .help(
        "pressure stall averaging periods",
        "Three instances: \"10 second\", \"1 minute\" and \"5 minute\", with ids 10, 60 and 300.",
    )];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_files_of_every_resource_parse() {
        // cpu before 5.13: no full line.
        let cpu = parse(b"some avg10=1.50 avg60=0.25 avg300=0.00 total=42\n").unwrap();
        assert_eq!(cpu.some, Some(([1.5, 0.25, 0.0], 42)));
        assert_eq!(cpu.full, None);
        // irq (6.1 on, CONFIG_IRQ_TIME_ACCOUNTING): a full line only.
        let irq = parse(b"full avg10=0.00 avg60=0.01 avg300=0.00 total=100648410\n").unwrap();
        assert_eq!(irq.some, None);
        assert_eq!(irq.full, Some(([0.0, 0.01, 0.0], 100648410)));
        assert!(parse(b"").is_err());
        assert!(parse(b"odd avg10=1 total=2\n").is_err());
        assert!(parse(b"full avg10=x total=2\n").is_err());
    }
}
