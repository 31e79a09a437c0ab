//! The value of a per-process metric for one process, from the files its
//! entry read this fetch: unit conversions as pmdaproc makes them (clock
//! ticks to milliseconds, pages and bytes to kilobytes), names for ids.

use pcp_core::{PmError, Value};

use crate::names::{policy_name, IdNames, TtyNames};
use crate::pidtab::{file, Entry};

/// Clusters of the proc tree (the hotproc tree's map onto them).
pub mod cluster {
    /// `stat` (psinfo).
    pub const STAT: u32 = 8;
    /// `statm` and `maps` (memory).
    pub const STATM: u32 = 9;
    /// Control metrics.
    pub const CONTROL: u32 = 10;
    /// `cgroup` (psinfo.cgroups, id.container).
    pub const CGROUP: u32 = 11;
    /// `attr/current` (psinfo.labels).
    pub const LABEL: u32 = 12;
    /// Run-queue counts.
    pub const RUNQ: u32 = 13;
    /// `status`.
    pub const STATUS: u32 = 24;
    /// `schedstat`.
    pub const SCHEDSTAT: u32 = 31;
    /// `io`.
    pub const IO: u32 = 32;
    /// `smaps_rollup`.
    pub const SMAPS: u32 = 33;
    /// `fd`.
    pub const FD: u32 = 51;
    /// `oom_score`.
    pub const OOM: u32 = 62;
    /// `exe`.
    pub const EXE: u32 = 69;
    /// `cwd`.
    pub const CWD: u32 = 72;
    /// `autogroup`.
    pub const AUTOGROUP: u32 = 74;
}

/// The proc-tree cluster a hotproc cluster mirrors.
pub fn proc_cluster_of_hot(c: u32) -> Option<u32> {
    Some(match c {
        52 => cluster::STAT,
        53 => cluster::STATM,
        54 => cluster::CGROUP,
        55 => cluster::LABEL,
        56 => cluster::STATUS,
        57 => cluster::SCHEDSTAT,
        58 => cluster::IO,
        59 => cluster::FD,
        63 => cluster::OOM,
        71 => cluster::EXE,
        73 => cluster::CWD,
        75 => cluster::AUTOGROUP,
        34 => cluster::SMAPS,
        _ => return None,
    })
}

/// The files a per-process metric needs (0 for none or not per-process).
pub fn files_for(c: u32, item: u32) -> u32 {
    match (c, item) {
        (cluster::STAT, 0 | 41 | 99) => 0,
        (cluster::STAT, 40) => file::WCHAN,
        (cluster::STAT, 47) => file::ENVIRON,
        (cluster::STAT, _) => file::STAT,
        (cluster::STATM, 7) => file::MAPS,
        (cluster::STATM, _) => file::STATM,
        (cluster::CGROUP, _) => file::CGROUP,
        (cluster::LABEL, _) => file::LABEL,
        (cluster::STATUS, _) => file::STATUS,
        (cluster::SCHEDSTAT, _) => file::SCHEDSTAT,
        (cluster::IO, _) => file::IO,
        (cluster::SMAPS, _) => file::SMAPS,
        (cluster::FD, _) => file::FD,
        (cluster::OOM, _) => file::OOM,
        (cluster::EXE, _) => file::EXE,
        (cluster::CWD, _) => file::CWD,
        (cluster::AUTOGROUP, 1 | 2) => file::AUTOGROUP,
        _ => 0,
    }
}

/// What a process gives for a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Got {
    /// A value.
    Val(Value),
    /// No value for this process.
    None,
    /// An error (the metric's error if no process gives a value).
    Err(PmError),
}

/// Per-fetch context for naming and converting.
#[derive(Debug)]
pub struct Units {
    /// Clock ticks per second.
    pub hertz: u64,
    /// Page size in kilobytes.
    pub page_kb: u64,
}

/// Lookups values need.
#[derive(Debug, Default)]
pub struct Lookups {
    /// User and group names.
    pub ids: IdNames,
    /// Terminal names.
    pub ttys: TtyNames,
}

fn v(x: impl Into<Value>) -> Got {
    Got::Val(x.into())
}

/// The value of (`c`, `item`) of the proc tree for entry `e`.
pub fn value(c: u32, item: u32, e: &Entry, u: &Units, look: &mut Lookups) -> Got {
    let f = &e.files;
    let ms = |ticks: u64| ticks.saturating_mul(1000) / u.hertz.max(1);
    match c {
        cluster::STAT => match item {
            0 => v(e.pid),
            41 => v(e.psargs()),
            40 => f.wchan.as_deref().map_or(Got::None, v),
            47 => f.environ.as_deref().map_or(Got::None, v),
            _ => {
                let Some(s) = &f.stat else { return Got::None };
                match item {
                    1 => v(s.cmd.as_str()),
                    2 => v((s.state as char).to_string()),
                    3 => v(s.ppid),
                    4 => v(s.pgrp),
                    5 => v(s.session),
                    6 => v(s.tty),
                    7 if s.tty_pgrp < 0 => Got::None,
                    7 => v(s.tty_pgrp as u32),
                    8 => v(s.flags),
                    9 => v(s.minflt as u32),
                    10 => v(s.cminflt as u32),
                    11 => v(s.majflt as u32),
                    12 => v(s.cmajflt as u32),
                    13 => v(ms(s.utime)),
                    14 => v(ms(s.stime)),
                    15 => v(ms(s.cutime)),
                    16 => v(ms(s.cstime)),
                    17 => v(s.priority as i32),
                    18 => v(s.nice as i32),
                    20 => v(s.it_real_value as u32),
                    21 => v(ms(s.start_time)),
                    22 => v(s.vsize / 1024),
                    23 => v(s.rss * u.page_kb),
                    24 => v(s.rss_rlim / 1024),
                    25 => v(s.start_code as u32),
                    26 => v(s.end_code as u32),
                    27 => v(s.start_stack as u32),
                    28 => v(s.esp as u32),
                    29 => v(s.eip as u32),
                    30 => v(s.signal as u32),
                    31 => v(s.blocked as u32),
                    32 => v(s.sigignore as u32),
                    33 => v(s.sigcatch as u32),
                    34 => v(s.wchan),
                    35 => v(s.nswap as u32),
                    36 => v(s.cnswap as u32),
                    37 => v(s.exit_signal as u32),
                    38 => v(s.processor as u32),
                    39 => v(look.ttys.name(s.tty)),
                    42 => v(s.rt_priority as u32),
                    43 => v(s.policy as u32),
                    44 => v(ms(s.delayacct_blkio)),
                    45 => v(ms(s.guest_time)),
                    46 => v(ms(s.cguest_time)),
                    48 => v(policy_name(s.policy)),
                    _ => Got::Err(PmError::PMID),
                }
            }
        },
        cluster::STATM => {
            if item == 7 {
                return f.maps.as_deref().map_or(Got::None, v);
            }
            let Some(m) = &f.statm else { return Got::None };
            let kb = |pages: u64| v((pages * u.page_kb) as u32);
            match item {
                0 => kb(m.size),
                1 => kb(m.rss),
                2 => kb(m.share),
                3 => kb(m.text),
                4 => kb(m.lib),
                5 => kb(m.data),
                6 => kb(m.dirty),
                _ => Got::Err(PmError::PMID),
            }
        }
        cluster::CGROUP => match (&f.cgroup, item) {
            (None, _) => Got::None,
            (Some((cg, _)), 0) => v(cg.as_str()),
            (Some((_, id)), 1) => v(id.as_str()),
            _ => Got::Err(PmError::PMID),
        },
        cluster::LABEL => f.label.as_deref().map_or(Got::None, v),
        cluster::STATUS => status_value(item, e, look),
        cluster::SCHEDSTAT => match &f.schedstat {
            None => Got::None,
            Some(s) => match item {
                0 => v(s.cpu_time),
                1 => v(s.run_delay),
                2 => v(s.pcount),
                _ => Got::Err(PmError::PMID),
            },
        },
        cluster::IO => match &f.io {
            None => Got::None,
            Some(io) => match item {
                0 => v(io.rchar),
                1 => v(io.wchar),
                2 => v(io.syscr),
                3 => v(io.syscw),
                4 => v(io.read_bytes),
                5 => v(io.write_bytes),
                6 => v(io.cancelled_write_bytes),
                _ => Got::Err(PmError::PMID),
            },
        },
        cluster::SMAPS => match &f.smaps {
            None => Got::None,
            Some(Err(e)) => Got::Err(*e),
            Some(Ok(s)) => s
                .get(item as usize)
                .map_or(Got::Err(PmError::PMID), |x| v(*x)),
        },
        cluster::FD => f.fd.map_or(Got::None, v),
        cluster::OOM => f.oom.map_or(Got::None, v),
        cluster::EXE => f.exe.as_deref().map_or(Got::None, v),
        cluster::CWD => f.cwd.as_deref().map_or(Got::None, v),
        cluster::AUTOGROUP => match (f.autogroup, item) {
            (None, _) => Got::None,
            (Some((id, _)), 1) => v(id),
            (Some((_, nice)), 2) => v(nice),
            _ => Got::Err(PmError::PMID),
        },
        _ => Got::Err(PmError::PMID),
    }
}

fn status_value(item: u32, e: &Entry, look: &mut Lookups) -> Got {
    let Some(s) = &e.files.status else {
        return Got::None;
    };
    let opt_str = |o: &Option<String>| o.as_deref().map_or(Got::Err(PmError::APPVERSION), v);
    match item {
        0..=3 => v(s.uid[item as usize]),
        4..=7 => v(s.gid[item as usize - 4]),
        8..=11 => v(look.ids.user(s.uid[item as usize - 8])),
        12..=15 => v(look.ids.group(s.gid[item as usize - 12])),
        16..=19 => v(s.sig[item as usize - 16].as_str()),
        20 => v(s.vm_size as u32),
        21 => v(s.vm_lck as u32),
        22 => v(s.vm_rss as u32),
        23 => v(s.vm_data as u32),
        24 => v(s.vm_stk as u32),
        25 => v(s.vm_exe as u32),
        26 => v(s.vm_lib as u32),
        27 => v(s.vm_swap as u32),
        28 => v(s.threads as u32),
        29 => v(s.vctxsw as u32),
        30 => v(s.nvctxsw as u32),
        31 => opt_str(&s.cpus_allowed),
        32 => s.ngid.map_or(Got::Err(PmError::APPVERSION), v),
        33 => v(s.vm_peak as u32),
        34 => v(s.vm_pin as u32),
        35 => v(s.vm_hwm as u32),
        36 => v(s.vm_pte as u32),
        37..=40 => opt_str(&s.ns[item as usize - 37]),
        41 => s.tgid.map_or(Got::Err(PmError::APPVERSION), v),
        42 => s.envid.map_or(Got::Err(PmError::APPVERSION), v),
        43 => v(s.vm_rss + s.vm_swap),
        44 => v((s.vm_rss + s.vm_swap).saturating_sub(s.vm_lib)),
        _ => Got::Err(PmError::PMID),
    }
}
