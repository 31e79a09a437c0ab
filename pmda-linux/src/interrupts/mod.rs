//! The `interrupts` collector: `/proc/interrupts` and `/proc/softirqs`,
//! per line (or softirq kind), per line and CPU, and per CPU. It owns the
//! four instance domains of lines and line-CPU pairs (ids from
//! pmdalinux's instance cache when there is one, else in order of first
//! sighting).

pub mod table;

use std::fmt::Write as _;

use pcp_core::agent::Sink;
use pcp_core::{Instance, LabelSet, PmError};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::Id;
use crate::descs;
use crate::rows::Rows;
use crate::system::System;
use crate::value::Put;
use table::IrqTable;

/// /proc/interrupts.
const INTERRUPTS: Need = Need::new(Id::Interrupts, 0);
/// /proc/softirqs.
const SOFTIRQS: Need = Need::new(Id::Interrupts, 1);

/// One of the two files: its rows, with the instance ids of each row and
/// of each row and CPU.
#[derive(Debug)]
struct Table {
    parsed: IrqTable,
    /// The table before, whose buffers the next parse reuses.
    spare: IrqTable,
    /// Row indexes into `parsed.rows`, by line instance.
    lines: Rows<usize>,
    /// (row, CPU column) pairs, by line-CPU instance (`LINE::cpuN`).
    per_cpu: Rows<(usize, usize)>,
}

impl Table {
    fn new(sys: &System, lines: u32, per_cpu: u32) -> Table {
        Table {
            parsed: IrqTable::default(),
            spare: IrqTable::default(),
            lines: Rows::seeded(sys.root(), lines),
            per_cpu: Rows::seeded(sys.root(), per_cpu),
        }
    }

    fn read(&mut self, sys: &mut System, need: Need, rel: &'static str) {
        let (parsed, spare) = (&mut self.parsed, &mut self.spare);
        sys.parse(need, rel, |b| {
            spare.parse(b)?;
            std::mem::swap(parsed, spare);
            Ok(())
        });
        if sys.status(need).is_err() {
            return;
        }
        let t = &self.parsed;
        self.lines
            .set_named(0..t.rows.len(), |&r, key| key.write_str(&t.rows[r].name));
        let pairs = (0..t.rows.len()).flat_map(|r| (0..t.cpus.len()).map(move |c| (r, c)));
        self.per_cpu.set_named(pairs, |&(r, c), key| {
            write!(key, "{}::cpu{}", t.rows[r].name, t.cpus[c])
        });
    }

    /// Each line's total over the CPUs.
    fn totals(&self, out: &mut Sink<'_>) -> Result<(), PmError> {
        self.lines
            .put_u64(out, |&r| Some(self.parsed.rows[r].total()));
        Ok(())
    }

    /// Each line's count on each CPU.
    fn per_cpu(&self, out: &mut Sink<'_>) -> Result<(), PmError> {
        let rows = &self.parsed.rows;
        self.per_cpu
            .put_u64(out, |&(r, c)| rows[r].counts.get(c).copied());
        Ok(())
    }

    /// Each CPU's count summed over the lines.
    fn cpu_sums(&self, out: &mut Sink<'_>) -> Result<(), PmError> {
        let t = &self.parsed;
        for (c, cpu) in t.cpus.iter().enumerate() {
            let sum = t.rows.iter().fold(0u64, |a, r| {
                a.wrapping_add(r.counts.get(c).copied().unwrap_or(0))
            });
            out.put_u64(*cpu, sum);
        }
        Ok(())
    }

    fn line_instances(&self) -> Vec<Instance> {
        self.lines.instances(|&r| self.parsed.rows[r].name.clone())
    }

    fn pair_instances(&self) -> Vec<Instance> {
        let t = &self.parsed;
        self.per_cpu
            .instances(|&(r, c)| format!("{}::cpu{}", t.rows[r].name, t.cpus[c]))
    }
}

/// The collector's state.
#[derive(Debug)]
pub struct Interrupts {
    hard: Table,
    soft: Table,
}

impl Interrupts {
    pub(crate) fn new(sys: &System) -> Interrupts {
        Interrupts {
            hard: Table::new(sys, descs::INTERRUPTS.serial, descs::INTERRUPT_CPU.serial),
            soft: Table::new(sys, descs::SOFTIRQS.serial, descs::SOFTIRQ_CPU.serial),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & INTERRUPTS.bit != 0 {
            self.hard.read(sys, INTERRUPTS, "proc/interrupts");
        }
        if want & SOFTIRQS.bit != 0 {
            self.soft.read(sys, SOFTIRQS, "proc/softirqs");
        }
    }
}

/// The interrupts collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::new("kernel.all.interrupts.total", &[INTERRUPTS], |c, _, out| {
        c.interrupts.hard.totals(out)
    })
    .help(
        "interrupts per interrupt line",
        "Interrupts serviced on each line of /proc/interrupts, summed over all CPUs. One instance per line, named by its label (an IRQ number or a name such as LOC or NMI).",
    ),
    Binding::new("kernel.percpu.interrupts", &[INTERRUPTS], |c, _, out| {
        c.interrupts.hard.per_cpu(out)
    })
    .help(
        "interrupts per line and CPU",
        "Interrupts serviced on each line of /proc/interrupts by each CPU, one instance per line and CPU, named LINE::cpuN.",
    ),
    // 0 without the rows (s390 has none), as pmdalinux says.
    Binding::new("kernel.all.interrupts.errors", &[INTERRUPTS], |c, _, out| {
        out.set_u64(c.interrupts.hard.parsed.errors.unwrap_or(0));
        Ok(())
    })
    .help(
        "erroneous interrupts",
        "The ERR count of /proc/interrupts: interrupts the kernel could not attribute to a working handler.",
    ),
    Binding::new("kernel.all.interrupts.missed", &[INTERRUPTS], |c, _, out| {
        out.set_u64(c.interrupts.hard.parsed.missed.unwrap_or(0));
        Ok(())
    })
    .help(
        "missed interrupts",
        "The MIS count of /proc/interrupts: interrupts lost by the interrupt controller.",
    ),
    Binding::new("kernel.percpu.intr", &[INTERRUPTS], |c, _, out| {
        c.interrupts.hard.cpu_sums(out)
    })
    .help(
        "interrupts per CPU",
        "Interrupts serviced by each CPU, summed over every line of /proc/interrupts.",
    ),
    Binding::new("kernel.all.softirqs.total", &[SOFTIRQS], |c, _, out| {
        c.interrupts.soft.totals(out)
    })
    .help(
        "soft interrupts per kind",
        "Soft interrupts (deferred interrupt work) run of each kind in /proc/softirqs, summed over all CPUs.",
    ),
    Binding::new("kernel.percpu.softirqs", &[SOFTIRQS], |c, _, out| {
        c.interrupts.soft.per_cpu(out)
    })
    .help(
        "soft interrupts per kind and CPU",
        "Soft interrupts of each kind in /proc/softirqs run by each CPU, one instance per kind and CPU, named KIND::cpuN.",
    ),
    Binding::new("kernel.percpu.sirq", &[SOFTIRQS], |c, _, out| {
        c.interrupts.soft.cpu_sums(out)
    })
    .help(
        "soft interrupts per CPU",
        "Soft interrupts run by each CPU, summed over every kind in /proc/softirqs.",
    ),
]];

/// Labels of each line-CPU instance: the CPU, and the line's label and
/// description (hard interrupts) or kind (softirqs).
fn pair_labels(t: &Table, soft: bool) -> Vec<(u32, LabelSet)> {
    let p = &t.parsed;
    t.per_cpu
        .iter()
        .map(|(id, &(r, c))| {
            let row = &p.rows[r];
            let l = LabelSet::new().with("cpu", p.cpus[c]);
            let l = if soft {
                l.with("softirq", row.name.as_str())
            } else {
                l.with("irq", row.name.as_str())
                    .with("irqtext", row.text.as_str())
            };
            (id, l)
        })
        .collect()
}

/// The instance domains of lines and line-CPU pairs.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::INTERRUPTS.serial, &[INTERRUPTS], |c| {
        c.interrupts.hard.line_instances()
    })
    .help(
        "set of interrupt lines",
        "One instance per row of /proc/interrupts (the ERR and MIS totals excepted), named by the row's label: an IRQ number or a name such as LOC or NMI.",
    )
    .labels(&["irq"], "per irq")
    .instance_labels(|c, _| {
        let t = &c.interrupts.hard;
        t.lines
            .iter()
            .map(|(id, &r)| {
                let row = &t.parsed.rows[r];
                let l = LabelSet::new()
                    .with("irq", row.name.as_str())
                    .with("irqtext", row.text.as_str());
                (id, l)
            })
            .collect()
    }),
    IndomBinding::new(descs::INTERRUPT_CPU.serial, &[INTERRUPTS], |c| {
        c.interrupts.hard.pair_instances()
    })
    .help(
        "set of interrupt lines on each CPU",
        "One instance per row of /proc/interrupts and CPU, named LINE::cpuN.",
    )
    .labels(&["irq", "cpu"], "per cpu, per irq")
    .instance_labels(|c, _| pair_labels(&c.interrupts.hard, false)),
    IndomBinding::new(descs::SOFTIRQS.serial, &[SOFTIRQS], |c| {
        c.interrupts.soft.line_instances()
    })
    .help(
        "set of soft interrupt kinds",
        "One instance per row of /proc/softirqs, named by the kind (TIMER, NET_RX, ...).",
    )
    .labels(&[], "per softirq"),
    IndomBinding::new(descs::SOFTIRQ_CPU.serial, &[SOFTIRQS], |c| {
        c.interrupts.soft.pair_instances()
    })
    .help(
        "set of soft interrupt kinds on each CPU",
        "One instance per row of /proc/softirqs and CPU, named KIND::cpuN.",
    )
    .labels(&["cpu"], "per cpu, per softirq")
    .instance_labels(|c, _| pair_labels(&c.interrupts.soft, true)),
];
