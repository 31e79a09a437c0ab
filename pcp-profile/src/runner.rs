//! Running the profile program: bpftrace in its own process group, killed
//! with the thread that started it (`PR_SET_PDEATHSIG`), its output read
//! by two threads: stdout becomes one [`Dump`] per interval, stderr is
//! counted (stack lookups bpftrace failed) and its tail kept for errors.
//!
//! pmda-bpftrace has a runner of its own, built around its script
//! registry; this crate does not depend on an agent crate, and needs only
//! one long-lived program, so this is the small version of the same rules
//! (process group, death signal, SIGINT then SIGKILL, bounded lines).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use crate::config::ProfilerConfig;
use crate::error::ProfileError;
use crate::parse::{parse_line, Line};
use crate::script::{self, map_role, MapRole};

/// Longest output line accepted (a map of every distinct stack of one
/// interval); a longer one is skipped and counted as a parse error.
pub const MAX_LINE_BYTES: usize = 256 << 20;

/// Bytes of bpftrace's stderr kept for error messages.
const STDERR_TAIL_BYTES: usize = 8192;

/// One interval's maps, as printed.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    /// CPU map entries: key text and sample count.
    pub cpu: Vec<(String, i64)>,
    /// Samples taken, kept or not.
    pub cpu_total: i64,
    /// Off-CPU map entries: key text and nanoseconds off CPU.
    pub off: Vec<(String, i64)>,
    /// When the interval's marker was read.
    pub at: Option<SystemTime>,
}

/// What the reader threads report.
#[derive(Debug)]
pub enum RunnerEvent {
    /// Every probe is attached (the program's BEGIN ran) at this time.
    Ready(SystemTime),
    /// One interval's maps.
    Interval(Dump),
    /// bpftrace's output ended: its exit status text and the tail of its
    /// stderr.
    Exited(String),
}

/// Counters the reader threads keep.
#[derive(Debug, Default)]
pub struct RunnerCounters {
    /// Stacks bpftrace could not look up (its "failed to look up stack id"
    /// lines): samples whose stack was lost, usually to a full or colliding
    /// stack map.
    pub stack_errors: AtomicU64,
    /// Events bpftrace reported lost.
    pub lost_events: AtomicU64,
    /// Output lines that could not be parsed (or were too long).
    pub parse_errors: AtomicU64,
    /// Probes bpftrace says it attaches.
    pub attached_probes: AtomicU64,
}

/// A running profile program.
#[derive(Debug)]
pub struct Runner {
    child: Arc<Mutex<Option<Child>>>,
    pid: i32,
    events: Receiver<RunnerEvent>,
    counters: Arc<RunnerCounters>,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Runner {
    /// Starts bpftrace with the program for `config`. Must be called from
    /// a thread that lives as long as the profile: bpftrace is killed when
    /// the calling thread ends.
    pub fn start(config: &ProfilerConfig) -> Result<Runner, ProfileError> {
        let program = script::program(config);
        let mut cmd = Command::new(&config.bpftrace);
        cmd.args(["-f", "json", "-e", &program])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in script::environment(config) {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            ProfileError::Bpftrace(format!("cannot start {}: {e}", config.bpftrace.display()))
        })?;
        let pid = child.id() as i32;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let counters = Arc::new(RunnerCounters::default());
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let child = Arc::new(Mutex::new(Some(child)));
        // Two intervals may wait: a slow consumer holds bpftrace back
        // rather than letting dumps pile up in memory.
        let (tx, events) = bounded(2);
        let mut threads = Vec::new();
        {
            let counters = counters.clone();
            let tail = stderr_tail.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("profile-stderr".into())
                    .spawn(move || read_stderr(stderr, &counters, &tail))
                    .map_err(|e| ProfileError::Bpftrace(format!("cannot start a thread: {e}")))?,
            );
        }
        {
            let counters = counters.clone();
            let tail = stderr_tail.clone();
            let child = child.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("profile-stdout".into())
                    .spawn(move || read_stdout(stdout, &counters, &tx, &child, &tail))
                    .map_err(|e| ProfileError::Bpftrace(format!("cannot start a thread: {e}")))?,
            );
        }
        Ok(Runner {
            child,
            pid,
            events,
            counters,
            stderr_tail,
            threads,
        })
    }

    /// The intervals as they come.
    pub fn events(&self) -> &Receiver<RunnerEvent> {
        &self.events
    }

    /// The readers' counters.
    pub fn counters(&self) -> &Arc<RunnerCounters> {
        &self.counters
    }

    /// bpftrace's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The tail of bpftrace's stderr.
    pub fn stderr_tail(&self) -> String {
        let t = self.stderr_tail.lock();
        String::from_utf8_lossy(&t.iter().copied().collect::<Vec<u8>>()).into_owned()
    }

    /// Asks bpftrace to stop: on SIGINT it prints the last, partial
    /// interval and exits. Keep reading [`Runner::events`] until
    /// [`RunnerEvent::Exited`]; [`Runner::kill`] if it takes too long.
    pub fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    /// Kills bpftrace at once.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, sig: i32) {
        let mut g = self.child.lock();
        if let Some(c) = g.as_mut() {
            if matches!(c.try_wait(), Ok(None)) {
                // SAFETY: kill has no memory effects; the group is that of
                // a child not yet reaped (checked under the lock).
                unsafe {
                    libc::kill(-(c.id() as i32), sig);
                }
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        // Dropping the receiver unblocks a reader waiting to hand over.
        drop(std::mem::replace(
            &mut self.events,
            crossbeam_channel::never(),
        ));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(mut c) = self.child.lock().take() {
            let _ = c.wait();
        }
    }
}

/// Reads one line of at most [`MAX_LINE_BYTES`] into `buf`; `Ok(false)` at
/// the end. An over-long line is consumed and reported as `Err(())`.
fn read_bounded_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Result<bool, ()>> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if too_long {
                Err(())
            } else {
                Ok(!buf.is_empty())
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long { Err(()) } else { Ok(true) });
        }
    }
}

fn read_stdout(
    stdout: impl Read,
    counters: &RunnerCounters,
    tx: &Sender<RunnerEvent>,
    child: &Mutex<Option<Child>>,
    tail: &Mutex<VecDeque<u8>>,
) {
    let mut r = BufReader::with_capacity(1 << 16, stdout);
    let mut buf = Vec::new();
    let mut dump = Dump::default();
    loop {
        match read_bounded_line(&mut r, &mut buf) {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Err(_) => break,
            Ok(Err(())) => {
                counters.parse_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        match parse_line(&buf) {
            Ok(Some(Line::Keyed(name, kv))) => match map_role(&name) {
                Some(MapRole::Cpu) => dump.cpu.extend(kv),
                Some(MapRole::OffCpu) => dump.off.extend(kv),
                _ => {}
            },
            Ok(Some(Line::Scalar(name, n))) if map_role(&name) == Some(MapRole::CpuTotal) => {
                dump.cpu_total += n
            }
            Ok(Some(Line::Marker)) => {
                dump.at = Some(SystemTime::now());
                if tx
                    .send(RunnerEvent::Interval(std::mem::take(&mut dump)))
                    .is_err()
                {
                    return;
                }
            }
            Ok(Some(Line::LostEvents(n))) => {
                counters.lost_events.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Some(Line::Ready)) => {
                if tx.send(RunnerEvent::Ready(SystemTime::now())).is_err() {
                    return;
                }
            }
            Ok(Some(Line::AttachedProbes(n))) => {
                counters.attached_probes.store(n, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => {
                counters.parse_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // Output ended: wait for the exit status (stderr may still be draining).
    // The lock is not held while waiting, so `stop` can still signal.
    let status = loop {
        let polled = {
            let mut g = child.lock();
            match g.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(s))) => Some(s.to_string()),
                Some(Ok(None)) => None,
                Some(Err(e)) => Some(format!("wait failed: {e}")),
                None => Some("stopped".into()),
            }
        };
        match polled {
            Some(s) => break s,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    std::thread::sleep(Duration::from_millis(50));
    let tail =
        String::from_utf8_lossy(&tail.lock().iter().copied().collect::<Vec<u8>>()).into_owned();
    let _ = tx.send(RunnerEvent::Exited(format!(
        "bpftrace {status}: {}",
        tail.trim()
    )));
}

fn read_stderr(stderr: impl Read, counters: &RunnerCounters, tail: &Mutex<VecDeque<u8>>) {
    let mut r = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.by_ref().take(64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if text.contains("failed to look up stack id") {
            counters.stack_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // Said on every start on kernels that account BPF memory to the
        // cgroup, where the limit no longer matters.
        if text.contains("couldn't set RLIMIT_MEMLOCK") {
            continue;
        }
        let mut t = tail.lock();
        t.extend(line.iter().copied());
        while t.len() > STDERR_TAIL_BYTES {
            t.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let data = b"short\nsecond line\nlast";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_bounded_line(&mut r, &mut buf).unwrap(), Ok(true));
        assert_eq!(buf, b"short\n");
        assert_eq!(read_bounded_line(&mut r, &mut buf).unwrap(), Ok(true));
        assert_eq!(buf, b"second line\n");
        assert_eq!(read_bounded_line(&mut r, &mut buf).unwrap(), Ok(true));
        assert_eq!(buf, b"last");
        assert_eq!(read_bounded_line(&mut r, &mut buf).unwrap(), Ok(false));
    }

    #[test]
    fn a_missing_bpftrace_is_a_clear_error() {
        let c = ProfilerConfig {
            bpftrace: "/nonexistent/bpftrace".into(),
            ..ProfilerConfig::default()
        };
        let e = Runner::start(&c).unwrap_err().to_string();
        assert!(e.contains("cannot start /nonexistent/bpftrace"), "{e}");
    }
}
