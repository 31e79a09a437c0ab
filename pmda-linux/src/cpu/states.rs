//! The CPU states of `kernel.{all,percpu,pernode}.cpu.*`: each state's
//! ticks in a /proc/stat line, and its help.

use super::stat::{
    CpuTicks, GUEST, GUEST_NICE, IDLE, IOWAIT, IRQ, NICE, SOFTIRQ, STEAL, SYSTEM, USER,
};
use crate::collectors::Collectors;

/// A CPU state of `kernel.*.cpu.*`: its name, its ticks, its help.
pub(super) struct State {
    name: &'static str,
    ticks: fn(&CpuTicks) -> u64,
    oneline: &'static str,
    help: &'static str,
}

impl State {
    pub(super) fn ticks(&self, t: &CpuTicks) -> u64 {
        (self.ticks)(t)
    }
}

/// The CPU states, by the names that follow `kernel.all.cpu.`.
pub(super) const STATES: &[State] = &[
    State {
        name: "user",
        ticks: |t| t[USER],
        oneline: "time in user mode, guest time included",
        help: "Time the CPUs spent running user-space code, including time spent running guest virtual CPUs. Converted from the kernel's clock ticks in /proc/stat to milliseconds.",
    },
    State {
        name: "nice",
        ticks: |t| t[NICE],
        oneline: "time in user mode at lowered priority (niced)",
        help: "Time spent running niced user-space code, including niced guests. Converted from clock ticks in /proc/stat to milliseconds.",
    },
    State {
        name: "sys",
        ticks: |t| t[SYSTEM],
        oneline: "time in kernel mode",
        help: "Time spent executing kernel code on behalf of processes (system time), from /proc/stat, in milliseconds.",
    },
    State {
        name: "idle",
        ticks: |t| t[IDLE],
        oneline: "idle time",
        help: "Time the CPUs had nothing to run and were not waiting on I/O, from /proc/stat, in milliseconds.",
    },
    State {
        name: "wait.total",
        ticks: |t| t[IOWAIT],
        oneline: "idle time with I/O outstanding",
        help: "Time a CPU was idle while at least one task waited for block I/O (iowait in /proc/stat), in milliseconds.",
    },
    State {
        name: "intr",
        ticks: |t| t[IRQ] + t[SOFTIRQ],
        oneline: "time servicing interrupts, hard and soft",
        help: "Sum of the hard interrupt and soft interrupt (softirq) time from /proc/stat, in milliseconds.",
    },
    State {
        name: "irq.soft",
        ticks: |t| t[SOFTIRQ],
        oneline: "time servicing soft interrupts",
        help: "Time spent in softirq handlers (the softirq column of /proc/stat), in milliseconds.",
    },
    State {
        name: "irq.hard",
        ticks: |t| t[IRQ],
        oneline: "time servicing hardware interrupts",
        help: "Time spent in hardware interrupt handlers (the irq column of /proc/stat), in milliseconds.",
    },
    State {
        name: "steal",
        ticks: |t| t[STEAL],
        oneline: "time stolen by the hypervisor",
        help: "Time a virtual CPU was ready to run but the hypervisor ran something else (steal in /proc/stat), in milliseconds.",
    },
    State {
        name: "guest",
        ticks: |t| t[GUEST],
        oneline: "time running guest virtual CPUs",
        help: "Time spent running a virtual CPU for a guest operating system (guest in /proc/stat), in milliseconds. Also counted in user.",
    },
    State {
        name: "guest_nice",
        ticks: |t| t[GUEST_NICE],
        oneline: "time running niced guest virtual CPUs",
        help: "Time spent running a niced guest virtual CPU (guest_nice in /proc/stat), in milliseconds. Also counted in nice.",
    },
    State {
        name: "vuser",
        ticks: |t| t[USER].saturating_sub(t[GUEST]),
        oneline: "user time excluding guest time",
        help: "User-mode time with guest time taken out (user minus guest), in milliseconds.",
    },
    State {
        name: "vnice",
        ticks: |t| t[NICE].saturating_sub(t[GUEST_NICE]),
        oneline: "niced user time excluding niced guest time",
        help: "Niced user-mode time with niced guest time taken out (nice minus guest_nice), in milliseconds.",
    },
];

pub(super) fn state(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    STATES.iter().position(|s| s.name == rest).map(|i| i as u32)
}

/// Help of `kernel.{all,percpu,pernode}.cpu.STATE`.
pub(super) fn state_help(name: &str) -> (String, String) {
    let (scope, rest) = [
        ("kernel.all.cpu.", "summed over all CPUs"),
        ("kernel.percpu.cpu.", "per CPU"),
        ("kernel.pernode.cpu.", "per NUMA node"),
    ]
    .iter()
    .find_map(|(p, scope)| Some((*scope, name.strip_prefix(p)?)))
    .unwrap_or(("", name));
    let s = STATES.iter().find(|s| s.name == rest);
    let (one, long) = s.map_or(("", ""), |s| (s.oneline, s.help));
    (
        format!("{one}, {scope}"),
        format!("{long} Reported {scope}."),
    )
}
