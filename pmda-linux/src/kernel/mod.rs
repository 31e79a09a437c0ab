//! The `kernel` collector: the load average and task counts
//! (`/proc/loadavg`), uptime (`/proc/uptime`), logins (the utmp file),
//! the kernel's identification (uname, the distribution), a few kernel
//! tunables and counters (`/proc/sys/kernel`, `/sys/kernel`), and the
//! system-wide counters of `/proc/stat` the `cpu` collector reads
//! (interrupts, context switches, forks, boot time). It owns the load
//! average instance domain.

pub mod uname;
pub mod utmp;

use pcp_core::{Instance, PmError, Value};
use procfs::{FromRead, LoadAverage, Uptime};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::cpu::STAT;
use crate::sysfiles::SysFiles;
use crate::system::System;
use crate::value::Put;
use crate::{descs, PCP_VERSION};

/// /proc/loadavg.
const LOADAVG: Need = Need::new(Id::Kernel, 0);
/// /proc/uptime.
const UPTIME: Need = Need::new(Id::Kernel, 1);
/// The utmp file.
const UTMP: Need = Need::new(Id::Kernel, 2);
/// uname(2), or its files on a fixture root.
const UNAME: Need = Need::new(Id::Kernel, 3);
/// The distribution's release file (found once).
const DISTRO: Need = Need::new(Id::Kernel, 4);
/// The small files of [`FILES`], sources 5 on.
const FILES_FIRST: u32 = 5;

/// The small files the collector reads, in source order.
const FILES: [&str; 5] = [
    "proc/sys/kernel/random/entropy_avail",
    "proc/sys/kernel/random/poolsize",
    "proc/sys/kernel/pid_max",
    "proc/sys/kernel/pty/nr",
    "sys/kernel/uevent_seqnum",
];
const fn file(i: u32) -> Need {
    Need::new(Id::Kernel, FILES_FIRST + i)
}

/// pmdalinux's load average instances.
const LOADAVG_INSTANCES: [(u32, &str); 3] = [(1, "1 minute"), (5, "5 minute"), (15, "15 minute")];

/// The collector's state.
#[derive(Debug)]
pub struct Kernel {
    load: Option<LoadAverage>,
    uptime: Option<(f64, f64)>,
    logins: [u64; 3],
    uname: uname::Uname,
    distro: Option<String>,
    files: SysFiles,
}

impl Kernel {
    pub(crate) fn new(_: &System) -> Kernel {
        Kernel {
            load: None,
            uptime: None,
            logins: [0; 3],
            uname: std::array::from_fn(|_| Err(PmError::VALUE)),
            distro: None,
            files: SysFiles::new(&FILES, FILES_FIRST),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & LOADAVG.bit != 0 {
            let load = &mut self.load;
            sys.parse(LOADAVG, "proc/loadavg", |b| {
                *load = Some(LoadAverage::from_read(b).map_err(|e| bad(&e))?);
                Ok(())
            });
        }
        if want & UPTIME.bit != 0 {
            let up = &mut self.uptime;
            sys.parse(UPTIME, "proc/uptime", |b| {
                let u = Uptime::from_read(b).map_err(|e| bad(&e))?;
                *up = Some((u.uptime, u.idle));
                Ok(())
            });
        }
        if want & UTMP.bit != 0 {
            // No utmp file (a container, a host without logins) counts
            // nobody, as pmdalinux's getutent loop does.
            self.logins = sys.read("var/run/utmp").map_or([0; 3], utmp::count_logins);
            sys.done(UTMP, Ok(()));
        }
        if want & UNAME.bit != 0 {
            self.uname = uname::read(sys);
            sys.done(UNAME, Ok(()));
        }
        if want & DISTRO.bit != 0 {
            if self.distro.is_none() {
                self.distro = Some(uname::distro(sys.root()));
            }
            sys.done(DISTRO, Ok(()));
        }
        self.files.refresh(sys, Id::Kernel, want);
    }

    /// uname field `i` (system name, node name, release, version, machine).
    fn uname(&self, i: usize) -> Result<String, PmError> {
        self.uname[i].clone()
    }
}

fn bad(e: &procfs::ProcError) -> crate::parse::ParseError {
    crate::parse::ParseError(e.to_string())
}

fn load(c: &Collectors) -> Result<&LoadAverage, PmError> {
    c.kernel.load.as_ref().ok_or(PmError::VALUE)
}

/// One of the uname strings.
fn uname_field(
    c: &Collectors,
    i: usize,
    out: &mut pcp_core::agent::Sink<'_>,
) -> Result<(), PmError> {
    out.set(c.kernel.uname(i)?);
    Ok(())
}

/// The machine: no value (rather than an error) where it is unknown.
fn machine(c: &Collectors, _: u32, out: &mut pcp_core::agent::Sink<'_>) -> Result<(), PmError> {
    if let Ok(m) = c.kernel.uname(4) {
        out.set(m);
    }
    Ok(())
}

fn stat_counter(out: &mut pcp_core::agent::Sink<'_>, v: Option<u64>) -> Result<(), PmError> {
    out.set_opt(v);
    Ok(())
}

/// The kernel collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::new("kernel.all.load", &[LOADAVG], |c, _, out| {
        let l = load(c)?;
        for ((id, _), v) in LOADAVG_INSTANCES.iter().zip([l.one, l.five, l.fifteen]) {
            out.put_f64(*id, f64::from(v));
        }
        Ok(())
    })
    .help(
        "load average over 1, 5 and 15 minutes",
        "The kernel's exponentially damped run-queue length (runnable plus uninterruptible tasks), from /proc/loadavg, one instance per averaging period.",
    ),
    Binding::new("kernel.all.lastpid", &[LOADAVG], |c, _, out| {
        out.set_opt(c.kernel.load.as_ref().map(|l| l.latest_pid as u64));
        Ok(())
    })
    .help(
        "most recently assigned process id",
        "The last process id the kernel handed out, from /proc/loadavg.",
    ),
    Binding::new("kernel.all.runnable", &[LOADAVG], |c, _, out| {
        out.set_opt(c.kernel.load.as_ref().map(|l| l.cur as u64));
        Ok(())
    })
    .help(
        "runnable tasks",
        "Tasks currently runnable, from the fourth field of /proc/loadavg.",
    ),
    Binding::new("kernel.all.nprocs", &[LOADAVG], |c, _, out| {
        out.set_opt(c.kernel.load.as_ref().map(|l| l.max as u64));
        Ok(())
    })
    .help(
        "tasks that exist",
        "Number of scheduling entities (processes and threads) that exist, from /proc/loadavg.",
    ),
    Binding::new("kernel.all.uptime", &[UPTIME], |c, _, out| {
        if let Some((up, _)) = c.kernel.uptime {
            out.set_f64(up);
        }
        Ok(())
    })
    .help("seconds since boot", "Time since the system booted, from /proc/uptime."),
    Binding::new("kernel.all.idletime", &[UPTIME], |c, _, out| {
        if let Some((_, idle)) = c.kernel.uptime {
            out.set_f64(idle);
        }
        Ok(())
    })
    .help(
        "idle seconds since boot, summed over CPUs",
        "Idle time from the second field of /proc/uptime.",
    ),
    Binding::new("kernel.all.nusers", &[UTMP], |c, _, out| {
        out.set_u64(c.kernel.logins[0]);
        Ok(())
    })
    .help(
        "users logged in",
        "Login sessions of named users (root included): the USER_PROCESS records of the utmp file, /var/run/utmp.",
    ),
    Binding::new("kernel.all.nroots", &[UTMP], |c, _, out| {
        out.set_u64(c.kernel.logins[1]);
        Ok(())
    })
    .help(
        "root users logged in",
        "Login sessions of the root user: the USER_PROCESS records of /var/run/utmp whose user is root.",
    ),
    Binding::new("kernel.all.nsessions", &[UTMP], |c, _, out| {
        out.set_u64(c.kernel.logins[2]);
        Ok(())
    })
    .help(
        "utmp records",
        "Records in the utmp file /var/run/utmp (boot time, run level, login and dead process entries as well as user sessions), leaving out user process records with no user name.",
    ),
    Binding::new("kernel.uname.sysname", &[UNAME], |c, _, out| uname_field(c, 0, out))
        .help("operating system name", "The kernel name, as uname -s prints it."),
    Binding::new("kernel.uname.nodename", &[UNAME], |c, _, out| uname_field(c, 1, out))
        .help("host name", "The network node name, as uname -n prints it."),
    Binding::new("kernel.uname.release", &[UNAME], |c, _, out| uname_field(c, 2, out))
        .help("kernel release", "The kernel release, as uname -r prints it."),
    Binding::new("kernel.uname.version", &[UNAME], |c, _, out| uname_field(c, 3, out))
        .help("kernel build version", "The kernel version string, as uname -v prints it."),
    Binding::new("kernel.uname.machine", &[UNAME], machine)
        .help("hardware type", "The machine hardware name, as uname -m prints it."),
    // In pmdalinux's cpuinfo cluster: asking it resamples the CPU
    // frequency figures, as there.
    Binding::new("hinv.machine", &[UNAME, crate::cpu::RESAMPLE], machine)
        .help("hardware type", "The machine hardware name, as uname -m reports it."),
    Binding::new("kernel.uname.distro", &[DISTRO], |c, _, out| {
        out.set(c.kernel.distro.clone().unwrap_or_default());
        Ok(())
    })
    .help(
        "Linux distribution",
        "Name and version of the installed distribution, from the release files under /etc.",
    ),
    Binding::new("pmda.uname", &[UNAME], |c, _, out| {
        let mut line = String::new();
        for i in 0..4 {
            line.push_str(&c.kernel.uname(i)?);
            line.push(' ');
        }
        line.push_str(&c.kernel.uname(4).map_err(|_| PmError::VALUE)?);
        out.set(line);
        Ok(())
    })
    .help(
        "the kernel's identification in one line",
        "Operating system name, host name, kernel release, kernel version and hardware type, separated by spaces, as uname -a prints the first five.",
    ),
    Binding::new("pmda.version", &[], |_, _, out| {
        out.set(Value::String(PCP_VERSION.to_string()));
        Ok(())
    })
    .help(
        "version of the agent",
        "The Performance Co-Pilot release this agent is a drop-in for.",
    ),
    Binding::new("kernel.all.entropy.avail", &[file(0)], |c, _, out| {
        out.set_u64(c.kernel.files.number(0, 0)?);
        Ok(())
    })
    .help(
        "entropy available to the random pool",
        "Bits of entropy the kernel's random number generator holds, from /proc/sys/kernel/random/entropy_avail.",
    ),
    Binding::new("kernel.all.entropy.poolsize", &[file(1)], |c, _, out| {
        out.set_u64(c.kernel.files.number(1, 0)?);
        Ok(())
    })
    .help(
        "size of the entropy pool",
        "Size in bits of the kernel's entropy pool, from /proc/sys/kernel/random/poolsize.",
    ),
    // Without the file pmdalinux says PID_MAX_LIMIT.
    Binding::new("kernel.all.pid_max", &[file(2)], |c, _, out| {
        out.set_u64(c.kernel.files.number_or(2, 1 << 22));
        Ok(())
    })
    .help(
        "largest process id plus one",
        "Process ids wrap at this value, from /proc/sys/kernel/pid_max.",
    ),
    // 0 on kernels without Unix98 ptys, as pmdalinux says.
    Binding::new("kernel.all.nptys", &[file(3)], |c, _, out| {
        out.set_u64(c.kernel.files.number_or(3, 0));
        Ok(())
    })
    .help(
        "pseudo-terminals in use",
        "Pseudo-terminals currently allocated, from /proc/sys/kernel/pty/nr.",
    ),
    Binding::new("sysfs.kernel.uevent_seqnum", &[file(4)], |c, _, out| {
        out.set_opt(c.kernel.files.optional(4)?);
        Ok(())
    })
    .help(
        "kernel uevents sent",
        "Sequence number of the latest event the kernel sent to user space about devices (hot-plug and the like), from /sys/kernel/uevent_seqnum.",
    ),
    Binding::new("kernel.all.intr", &[STAT], |c, _, out| stat_counter(out, c.cpu.stat.intr))
        .help(
            "interrupts serviced",
            "Total interrupts serviced since boot, the first number of the intr line of /proc/stat.",
        ),
    Binding::new("kernel.all.pswitch", &[STAT], |c, _, out| stat_counter(out, c.cpu.stat.ctxt))
        .help("context switches", "Context switches since boot (ctxt in /proc/stat)."),
    Binding::new("kernel.all.sysfork", &[STAT], |c, _, out| {
        stat_counter(out, c.cpu.stat.processes)
    })
    .help(
        "processes and threads created",
        "Forks and clones since boot (processes in /proc/stat).",
    ),
    Binding::new("kernel.all.running", &[STAT], |c, _, out| stat_counter(out, c.cpu.stat.running))
        .help("tasks running now", "Tasks in the running state (procs_running in /proc/stat)."),
    Binding::new("kernel.all.blocked", &[STAT], |c, _, out| stat_counter(out, c.cpu.stat.blocked))
        .help(
            "tasks blocked on I/O now",
            "Tasks blocked waiting for I/O (procs_blocked in /proc/stat).",
        ),
    Binding::new("kernel.all.boottime", &[STAT], |c, _, out| stat_counter(out, c.cpu.stat.btime))
        .help(
            "boot time in seconds since the epoch",
            "When the system booted, as seconds since 1970-01-01 UTC (btime in /proc/stat).",
        ),
]];

/// The load average instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[IndomBinding::new(descs::LOADAVG.serial, &[], |_| {
    LOADAVG_INSTANCES
        .iter()
        .map(|(id, n)| Instance::new(*id, *n))
        .collect()
})
.help(
    "load average periods",
    "Three instances: \"1 minute\", \"5 minute\" and \"15 minute\", with ids 1, 5 and 15.",
)];
