//! Hot processes (`hotproc.*`): every refresh interval (10 s unless set)
//! a background thread reads every process's `stat`, `status`, `io` and
//! `schedstat`, turns their changes since the previous pass into rates
//! (CPU burn, context switches, I/O demand, I/O and scheduler wait), and
//! keeps the processes the configured predicate ([`pred`]) selects. The
//! `hotproc.*` tree then answers as `proc.*` does, for those processes
//! only, plus the predicate values and the CPU totals of the last pass.
//! The predicate comes from `hotproc.conf` (pmdaproc's file) or a store
//! into `hotproc.control.config`.

pub mod pred;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Condvar, Mutex};

use crate::load::load;
use crate::names::IdNames;
use crate::pidtab::{file, PidTable};
use crate::procfs::ProcDir;
use pred::{Pred, Vars};

/// The predicate values of a hot process at the last pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Preds {
    /// Context switches per second.
    pub ctxswitch: f64,
    /// Virtual size, Kbytes.
    pub virtualsize: u32,
    /// Resident size, Kbytes.
    pub residentsize: u32,
    /// Bytes read and written per second.
    pub iodemand: f64,
    /// Fraction of the interval blocked on I/O.
    pub iowait: f64,
    /// Fraction of the interval waiting for a CPU.
    pub schedwait: f64,
    /// Fraction of a CPU used.
    pub cpuburn: f64,
}

/// CPU time over the last pass, as fractions of the interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Idle.
    pub cpuidle: f64,
    /// Used by hot processes.
    pub active: f64,
    /// Used by processes that are not hot.
    pub inactive: f64,
    /// Used by processes that did not live through the interval.
    pub transient: f64,
}

/// The hotproc state shared by the evaluator and fetches.
#[derive(Debug, Default)]
pub struct HotState {
    /// The predicate's text as configured.
    pub config: String,
    /// Times a predicate was set.
    pub config_gen: u32,
    /// The predicate (none: hotproc is off).
    pub pred: Option<Pred>,
    /// Seconds between passes.
    pub interval: u32,
    /// The hot processes of the last pass, by pid.
    pub hot: Vec<(u32, Preds)>,
    /// Totals of the last pass (none before two passes).
    pub totals: Option<Totals>,
}

/// Handle on the evaluator thread and its state.
#[derive(Debug)]
pub struct HotProc {
    state: Arc<Mutex<HotState>>,
    wake: Arc<(Mutex<bool>, Condvar)>,
    stop: Arc<AtomicBool>,
    config_file: PathBuf,
}

impl Drop for HotProc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.poke();
    }
}

/// Why a predicate was refused.
pub use pred::PredError;

impl HotProc {
    /// Starts the evaluator over `root`'s processes with the predicate of
    /// `config_file` (a missing file leaves hotproc off, as pmdaproc does).
    pub fn start(root: &Path, config_file: PathBuf) -> std::io::Result<HotProc> {
        let state = Arc::new(Mutex::new(HotState {
            interval: 10,
            ..Default::default()
        }));
        let hp = HotProc {
            state: Arc::clone(&state),
            wake: Arc::new((Mutex::new(false), Condvar::new())),
            stop: Arc::new(AtomicBool::new(false)),
            config_file,
        };
        if let Err(e) = hp.reload() {
            eprintln!("pmda-proc: {}: {e}", hp.config_file.display());
        }
        let mut dir = ProcDir::open(root)?;
        let wake = Arc::clone(&hp.wake);
        let stop = Arc::clone(&hp.stop);
        std::thread::Builder::new()
            .name("hotproc".into())
            .spawn(move || {
                let mut ev = Evaluator::default();
                while !stop.load(Ordering::Acquire) {
                    let (pred, interval) = {
                        let s = state.lock();
                        (s.pred.clone(), s.interval.max(1))
                    };
                    if let Some(p) = pred {
                        let (hot, totals) = ev.pass(&mut dir, &p);
                        let mut s = state.lock();
                        s.hot = hot;
                        s.totals = totals;
                    }
                    let (lock, cv) = &*wake;
                    let mut poked = lock.lock();
                    if !*poked {
                        cv.wait_for(&mut poked, Duration::from_secs(u64::from(interval)));
                    }
                    *poked = false;
                }
            })?;
        Ok(hp)
    }

    fn poke(&self) {
        let (lock, cv) = &*self.wake;
        *lock.lock() = true;
        cv.notify_all();
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<Mutex<HotState>> {
        &self.state
    }

    /// Sets the predicate from text; empty text turns hotproc off. A bad
    /// predicate is refused and the old one kept.
    pub fn set_config(&self, text: &str) -> Result<(), PredError> {
        let pred = pred::parse_config(text)?;
        {
            let mut s = self.state.lock();
            s.config = text.to_string();
            match pred {
                Some(p) => {
                    s.pred = Some(p);
                    s.config_gen += 1;
                }
                None => {
                    s.pred = None;
                    s.hot.clear();
                    s.totals = None;
                    s.config_gen = 0;
                }
            }
        }
        self.poke();
        Ok(())
    }

    /// Re-reads the configuration file.
    pub fn reload(&self) -> Result<(), String> {
        match std::fs::read_to_string(&self.config_file) {
            Ok(text) => self.set_config(&text).map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sets the refresh interval in seconds (0 is taken as 1).
    pub fn set_interval(&self, secs: u32) {
        self.state.lock().interval = secs.max(1);
        self.poke();
    }
}

/// What a pass keeps of a process for the next one.
#[derive(Debug, Clone, Copy)]
struct Sample {
    when: u64,
    cputime: f64,
    ctx: f64,
    bytes: f64,
    bwtime: f64,
    qwtime: f64,
}

/// One pass over every process, with the previous pass's samples.
#[derive(Debug, Default)]
struct Evaluator {
    table: PidTable,
    buf: Vec<u8>,
    names: IdNames,
    prev: HashMap<u32, Sample>,
    prev_idle: Option<(u64, f64)>,
}

impl Evaluator {
    fn pass(&mut self, dir: &mut ProcDir, pred: &Pred) -> (Vec<(u32, Preds)>, Option<Totals>) {
        // SAFETY: sysconf has no preconditions.
        let (hz, page, ncpu) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64,
                libc::sysconf(libc::_SC_PAGESIZE).max(1024) as u64 / 1024,
                libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as f64,
            )
        };
        // Whole seconds, as pmdaproc times its samples.
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let pids = self.table.refresh(dir, false, &mut self.buf);
        self.table.clear_reads(&pids);
        let mut samples = HashMap::with_capacity(pids.len());
        let mut hot = Vec::new();
        let (mut total, mut active, mut inactive) = (0.0, 0.0, 0.0);
        for &pid in &pids {
            let Some(e) = self.table.get_mut(pid) else {
                continue;
            };
            load(
                dir,
                e,
                file::STAT | file::STATUS | file::IO | file::SCHEDSTAT,
                &mut self.buf,
            );
            let (Some(st), Some(ss)) = (&e.files.stat, &e.files.status) else {
                continue;
            };
            let io = e.files.io.unwrap_or_default();
            let s = Sample {
                when: now,
                cputime: (st.utime + st.stime) as f64 / hz,
                ctx: (ss.vctxsw + ss.nvctxsw) as f64,
                bytes: (io.read_bytes + io.write_bytes) as f64,
                bwtime: st.delayacct_blkio as f64 / hz,
                qwtime: e.files.schedstat.map_or(0.0, |q| q.run_delay as f64),
            };
            let mut p = Preds {
                virtualsize: (st.vsize / 1024) as u32,
                residentsize: (st.rss * page) as u32,
                ..Default::default()
            };
            let mut cpu_delta = 0.0;
            if let Some(old) = self.prev.get(&pid) {
                let dt = s.when.saturating_sub(old.when) as f64;
                cpu_delta = (s.cputime - old.cputime).max(0.0);
                if dt > 0.0 {
                    p.cpuburn = cpu_delta / dt;
                    p.iodemand = (s.bytes - old.bytes).max(0.0) / dt;
                    p.ctxswitch = (s.ctx - old.ctx).max(0.0) / dt;
                    p.iowait = (s.bwtime - old.bwtime).max(0.0) / dt;
                    p.schedwait = (s.qwtime - old.qwtime).max(0.0) / (dt * 1e9);
                }
            }
            total += cpu_delta;
            let comm = st.cmd.trim_start_matches('(').trim_end_matches(')');
            let vars = Vars {
                uid: f64::from(ss.uid[0]),
                gid: f64::from(ss.gid[0]),
                uname: self.names.user(ss.uid[0]).to_string(),
                gname: self.names.group(ss.gid[0]).to_string(),
                fname: comm.to_string(),
                psargs: e.psargs().to_string(),
                cpuburn: p.cpuburn,
                syscalls: 0.0,
                ctxswitch: p.ctxswitch,
                virtualsize: f64::from(p.virtualsize),
                residentsize: f64::from(p.residentsize),
                iodemand: p.iodemand,
                iowait: p.iowait,
                schedwait: p.schedwait,
            };
            if pred.eval(&vars) {
                hot.push((pid, p));
                active += cpu_delta;
            } else {
                inactive += cpu_delta;
            }
            samples.insert(pid, s);
        }
        let idle = read_idle(dir, &mut self.buf).map(|ticks| ticks as f64 / hz);
        let mut totals = None;
        if let (Some((t0, i0)), Some(i1)) = (self.prev_idle, idle) {
            let actual = now.saturating_sub(t0) as f64;
            if actual > 0.0 {
                let idle_delta = (i1 - i0).max(0.0);
                let transient = (ncpu * actual - (total + idle_delta)).max(0.0);
                totals = Some(Totals {
                    cpuidle: idle_delta / actual,
                    active: active / actual,
                    inactive: inactive / actual,
                    transient: transient / actual,
                });
            }
        }
        self.prev_idle = idle.map(|i| (now, i));
        self.prev = samples;
        hot.sort_by_key(|h| h.0);
        (hot, totals)
    }
}

/// Idle ticks of all CPUs, from `/proc/stat`'s first line.
fn read_idle(dir: &ProcDir, buf: &mut Vec<u8>) -> Option<u64> {
    dir.read_global("stat", buf).ok()?;
    let text = std::str::from_utf8(buf).ok()?;
    text.lines().next()?.split_whitespace().nth(4)?.parse().ok()
}
