//! The `tty` collector: serial line counters from
//! `/proc/tty/driver/serial` (`tty.serial.*`), a file only root may read.
//! pmdalinux gives these figures to clients pmcd says are root only, and
//! re-reads the port list for them only. Like pmdalinux's cached entries,
//! a counter the kernel stops printing (it prints the error counts only
//! when non-zero) keeps its last value.

use std::collections::HashMap;

use pcp_core::Instance;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::Id;
use crate::descs;
use crate::rows::InstMap;
use crate::system::System;
use crate::value::Put;

/// Serial line counters of one port, in tty.serial item order: tx, rx,
/// frame, parity, brk, overrun, irq.
pub type TtyCounts = [u64; 7];

/// One port line of /proc/tty/driver/serial: the port's name (the text
/// before the first colon) and the counters the line carries (others stay
/// as they were). `None` for lines that are not a port with a known UART.
pub fn parse_tty_line(line: &str, counts: &mut TtyCounts) -> Option<String> {
    let (port, _) = line.split_once(':')?;
    let uart = line.split_once("uart:")?.1;
    if port.trim_start().starts_with('-') || port == "serinfo" {
        return None;
    }
    let uart = uart.split_whitespace().next().unwrap_or("");
    if uart == "unknown" {
        return None;
    }
    for (i, key) in ["tx:", "rx:", "fe:", "pe:", "brk:", "oe:", "irq:"]
        .iter()
        .enumerate()
    {
        if let Some((_, rest)) = line.split_once(key) {
            let digits: &str = &rest[..rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len())];
            if let Ok(v) = digits.parse::<u64>() {
                counts[i] = v;
            }
        }
    }
    Some(port.to_string())
}

/// /proc/tty/driver/serial.
const SERIAL: Need = Need::new(Id::Tty, 0);

/// The collector's state.
#[derive(Debug, Default)]
pub struct Tty {
    ids: InstMap,
    /// Ports seen in the last read (instance ids, file order).
    ports: Vec<u32>,
    /// Counters of every port ever seen, by instance id.
    counts: HashMap<u32, (String, TtyCounts)>,
}

impl Tty {
    pub(crate) fn new(_: &System) -> Tty {
        Tty::default()
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & SERIAL.bit == 0 {
            return;
        }
        self.ports.clear();
        if let Ok(bytes) = sys.read("proc/tty/driver/serial") {
            let text = String::from_utf8_lossy(bytes);
            for line in text.lines() {
                let Some((port, _)) = line.split_once(':') else {
                    continue;
                };
                let mut counts = self
                    .ids
                    .peek(port)
                    .and_then(|id| self.counts.get(&id))
                    .map_or(TtyCounts::default(), |(_, c)| *c);
                let Some(name) = parse_tty_line(line, &mut counts) else {
                    continue;
                };
                let id = self.ids.id(&name);
                self.counts.insert(id, (name, counts));
                if !self.ports.contains(&id) {
                    self.ports.push(id);
                }
            }
        }
        sys.done(SERIAL, Ok(()));
    }
}

/// A counter of each port.
macro_rules! counter {
    ($name:literal, $i:literal, $one:literal, $help:literal) => {
        Binding::new($name, &[SERIAL], |c, _, out| {
            let t = &c.tty;
            for id in &t.ports {
                if let Some((_, counts)) = t.counts.get(id) {
                    out.put_u64(*id, counts[$i]);
                }
            }
            Ok(())
        })
        .root_only()
        .help(
            $one,
            concat!(
                $help,
                ", from /proc/tty/driver/serial (readable by root only). One instance per port with a known UART, named by its line number."
            ),
        )
    };
}

/// The tty collector's metrics (root clients only).
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    counter!(
        "tty.serial.tx",
        0,
        "characters transmitted",
        "Characters (transmit interrupts) sent on each serial port"
    ),
    counter!(
        "tty.serial.rx",
        1,
        "characters received",
        "Characters (receive interrupts) received on each serial port"
    ),
    counter!(
        "tty.serial.frame",
        2,
        "framing errors",
        "Framing errors detected on each serial port"
    ),
    counter!(
        "tty.serial.parity",
        3,
        "parity errors",
        "Parity errors detected on each serial port"
    ),
    counter!(
        "tty.serial.brk",
        4,
        "breaks received",
        "Break conditions received on each serial port"
    ),
    counter!(
        "tty.serial.overrun",
        5,
        "overrun errors",
        "Receive overruns (characters lost) on each serial port"
    ),
    counter!(
        "tty.serial.irq",
        6,
        "interrupt line",
        "The interrupt request line each serial port uses"
    ),
]];

/// The serial ports, re-read for root clients only.
pub(crate) const INDOMS: &[IndomBinding] = &[IndomBinding::new(descs::TTY.serial, &[SERIAL], |c| {
    c.tty
        .ports
        .iter()
        .filter_map(|id| Some(Instance::new(*id, c.tty.counts.get(id)?.0.clone())))
        .collect()
})
.root_only()
.help(
    "set of serial ports",
    "One instance per serial port of /proc/tty/driver/serial with a known UART, named by its line number.",
)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_lines() {
        let mut c = TtyCounts::default();
        let l = "1: uart:16550A port:000002F8 irq:3 tx:5 rx:6 fe:1 pe:2 brk:3 oe:4 RTS|DTR";
        assert_eq!(parse_tty_line(l, &mut c).as_deref(), Some("1"));
        assert_eq!(c, [5, 6, 1, 2, 3, 4, 3]);
        assert!(parse_tty_line("2: uart:unknown port:000003E8 irq:4", &mut c).is_none());
        assert!(parse_tty_line("serinfo:1.0 driver revision:", &mut c).is_none());
    }
}
