//! Running bpftrace: the registry of scripts shared by every thread, the
//! manager thread (starts, stops, SIGKILL deadlines, expiry, shutdown) and
//! the reader threads of each process.
//!
//! Every bpftrace is spawned by the manager thread, in its own process group,
//! with `PR_SET_PDEATHSIG` = SIGKILL tied to that thread, which lives as long
//! as the agent: if the agent dies, even by SIGKILL, its bpftrace processes
//! die with it. A stop sends SIGINT to the group (bpftrace then prints its
//! maps and exits), then SIGKILL after `stop_timeout`. Signals are only sent
//! while the process is known not to be reaped (the reader thread checks the
//! exit with `WNOWAIT` before reaping), so a recycled pid is never signalled.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};

use crate::config::Settings;
use crate::event::{parse_line, Event};
use crate::script::{Script, Status};

/// The scripts and what every thread shares.
#[derive(Debug)]
pub struct Registry {
    /// Registered scripts by cluster.
    pub scripts: Mutex<BTreeMap<u32, Arc<Script>>>,
    /// Bumped whenever metric names change (scripts come or go, maps appear).
    pub generation: AtomicU64,
    /// Settings.
    pub settings: Arc<Settings>,
    ready_lock: Mutex<()>,
    ready: Condvar,
    unknown_types: Mutex<HashSet<String>>,
    /// Scripts whose expiry removed them, for the agent to release their
    /// clusters.
    pub expired: Mutex<Vec<Arc<Script>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new(settings: Arc<Settings>) -> Registry {
        Registry {
            scripts: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(1),
            settings,
            ready_lock: Mutex::new(()),
            ready: Condvar::new(),
            unknown_types: Mutex::new(HashSet::new()),
            expired: Mutex::new(Vec::new()),
        }
    }

    /// Notes that names changed.
    pub fn names_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn notify_ready(&self) {
        let _g = self.ready_lock.lock();
        self.ready.notify_all();
    }

    /// Waits until no script is starting without having printed its first
    /// data, or `timeout` passes.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = {
                let scripts = self.scripts.lock();
                scripts.values().any(|s| {
                    let st = s.state.lock();
                    matches!(st.status, Status::Starting | Status::Started) && !st.ready
                })
            };
            let now = Instant::now();
            if !pending || now >= deadline {
                return;
            }
            let mut g = self.ready_lock.lock();
            // Short slices: a notification between the check and the wait
            // costs at most one slice.
            let slice = (deadline - now).min(Duration::from_millis(50));
            self.ready.wait_for(&mut g, slice);
        }
    }

    fn log_unknown_type(&self, ty: &str, script: &Script) {
        if self.unknown_types.lock().insert(ty.to_string()) {
            log(&format!(
                "script {}: unknown bpftrace output type {ty:?} skipped (logged once)",
                script.name
            ));
        }
    }
}

/// Writes a line to the agent's log (stderr).
pub fn log(msg: &str) {
    eprintln!("pmda-bpftrace: {msg}");
}

enum Cmd {
    Start(Arc<Script>),
    Deadline(Arc<Script>, u64, Instant),
    Shutdown,
}

/// The manager thread's handle. Dropping it stops every bpftrace.
#[derive(Debug)]
pub struct Manager {
    tx: Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Start(s) => write!(f, "Start({})", s.name),
            Cmd::Deadline(s, run, _) => write!(f, "Deadline({}, {run})", s.name),
            Cmd::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl Manager {
    /// Starts the manager thread.
    pub fn spawn(reg: Arc<Registry>) -> std::io::Result<Manager> {
        let (tx, rx) = unbounded();
        let tx2 = tx.clone();
        let thread = thread::Builder::new()
            .name("bpftrace-manager".into())
            .spawn(move || manager_loop(reg, rx, tx2))?;
        Ok(Manager {
            tx,
            thread: Some(thread),
        })
    }

    /// Asks for `script` to be started (its status must already be
    /// `starting`).
    pub fn start(&self, script: Arc<Script>) {
        let _ = self.tx.send(Cmd::Start(script));
    }

    /// Stops `script`: SIGINT now, SIGKILL after the stop timeout. With a
    /// `failure`, the final status is `error` with that text.
    pub fn stop(&self, script: &Arc<Script>, failure: Option<String>) {
        if let Some((run, sent)) = begin_stop(script, failure) {
            let _ = self.tx.send(Cmd::Deadline(script.clone(), run, sent));
        }
    }

    /// Stops every script and the thread, waiting at most the stop timeout
    /// plus a second.
    pub fn shutdown(&mut self) {
        let _ = self.tx.send(Cmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sends `sig` to the script's process group if it is still unreaped.
fn signal(script: &Script, sig: i32) -> bool {
    let st = script.state.lock();
    match st.proc.pid {
        Some(pid) if pid > 0 => {
            // SAFETY: kill has no memory effects; the group id is the pid of
            // a child we have not reaped (checked under the state lock).
            unsafe { libc::kill(-pid, sig) == 0 }
        }
        _ => false,
    }
}

/// Marks a stop and sends SIGINT. Returns the run number and when SIGINT
/// was sent, or `None` if nothing runs.
fn begin_stop(script: &Script, failure: Option<String>) -> Option<(u64, Instant)> {
    let mut st = script.state.lock();
    if let Some(f) = failure {
        st.proc.failure.get_or_insert(f);
    }
    st.proc.stop_requested = true;
    let pid = st.proc.pid?;
    if matches!(st.status, Status::Started | Status::Starting) {
        st.status = Status::Stopping;
    }
    // SAFETY: see `signal`.
    unsafe {
        libc::kill(-pid, libc::SIGINT);
    }
    Some((st.proc.run, Instant::now()))
}

fn manager_loop(reg: Arc<Registry>, rx: Receiver<Cmd>, tx: Sender<Cmd>) {
    let grace = reg.settings.stop_timeout;
    let mut deadlines: Vec<(Arc<Script>, u64, Instant)> = Vec::new();
    let mut last_expiry = Instant::now();
    loop {
        let now = Instant::now();
        let next = deadlines
            .iter()
            .map(|d| d.2)
            .min()
            .map_or(Duration::from_millis(500), |d| {
                d.saturating_duration_since(now)
            })
            .min(Duration::from_millis(500));
        match rx.recv_timeout(next) {
            Ok(Cmd::Start(script)) => spawn_script(&reg, &script, &tx),
            Ok(Cmd::Deadline(script, run, at)) => deadlines.push((script, run, at + grace)),
            Ok(Cmd::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        deadlines.retain(|(script, run, at)| {
            let st = script.state.lock();
            if st.proc.run != *run || st.proc.pid.is_none() {
                return false;
            }
            drop(st);
            if now >= *at {
                log(&format!(
                    "script {}: still running {grace:?} after SIGINT, sending SIGKILL",
                    script.name
                ));
                signal(script, libc::SIGKILL);
                return false;
            }
            true
        });
        if now.duration_since(last_expiry) >= Duration::from_millis(500) {
            last_expiry = now;
            expire(&reg, &tx);
        }
    }
    let pending: Vec<Arc<Script>> = deadlines.into_iter().map(|d| d.0).collect();
    shutdown_all(&reg, grace, pending);
}

fn expire(reg: &Registry, tx: &Sender<Cmd>) {
    let limit = reg.settings.script_expiry_time;
    let now = SystemTime::now();
    let expired: Vec<Arc<Script>> = {
        let mut scripts = reg.scripts.lock();
        let gone: Vec<u32> = scripts
            .iter()
            .filter(|(_, s)| {
                !s.persistent
                    && now
                        .duration_since(*s.last_access.lock())
                        .is_ok_and(|idle| idle > limit)
            })
            .map(|(c, _)| *c)
            .collect();
        gone.iter().filter_map(|c| scripts.remove(c)).collect()
    };
    if expired.is_empty() {
        return;
    }
    for s in &expired {
        log(&format!(
            "script {}: deregistered, not fetched for {} seconds",
            s.name,
            limit.as_secs()
        ));
        s.removed.store(true, Ordering::Release);
        if let Some((run, at)) = begin_stop(s, None) {
            let _ = tx.send(Cmd::Deadline(s.clone(), run, at));
        }
    }
    reg.expired.lock().extend(expired);
    reg.names_changed();
}

fn shutdown_all(reg: &Registry, grace: Duration, stopping: Vec<Arc<Script>>) {
    let mut all: Vec<Arc<Script>> = reg.scripts.lock().values().cloned().collect();
    all.extend(reg.expired.lock().iter().cloned());
    all.extend(stopping);
    let running: Vec<&Arc<Script>> = all
        .iter()
        .filter(|s| begin_stop(s, None).is_some())
        .collect();
    let start = Instant::now();
    let alive = |s: &Arc<Script>| s.state.lock().proc.pid.is_some();
    while running.iter().any(|s| alive(s)) && start.elapsed() < grace {
        thread::sleep(Duration::from_millis(20));
    }
    for s in running.iter().filter(|s| alive(s)) {
        log(&format!("script {}: sending SIGKILL at shutdown", s.name));
        signal(s, libc::SIGKILL);
    }
    let start = Instant::now();
    while running.iter().any(|s| alive(s)) && start.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_script(reg: &Arc<Registry>, script: &Arc<Script>, tx: &Sender<Cmd>) {
    if script.is_removed() {
        return;
    }
    let settings = &reg.settings;
    let mut st = script.state.lock();
    if st.status != Status::Starting || st.proc.pid.is_some() {
        return;
    }
    st.reset_for_start();
    st.proc.run += 1;
    let run = st.proc.run;
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(&settings.bpftrace_path);
    cmd.args(["-f", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The agent died between fork and prctl: don't run orphaned.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            st.status = Status::Error;
            st.exit_code = 1;
            st.error
                .set(&format!("cannot run {}: {e}", settings.bpftrace_path));
            st.ready = true;
            drop(st);
            log(&format!("script {}: cannot run bpftrace: {e}", script.name));
            reg.notify_ready();
            return;
        }
    };
    let pid = child.id() as i32;
    st.proc.pid = Some(pid);
    st.pid = pid;
    st.status = Status::Started;
    drop(st);
    log(&format!(
        "script {}: started bpftrace pid {pid} (user {})",
        script.name,
        script.username.as_deref().unwrap_or("anonymous")
    ));
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let err_thread = stderr.and_then(|e| {
        let s = script.clone();
        thread::Builder::new()
            .name(format!("bpftrace-err-{}", script.cluster))
            .spawn(move || read_stderr(&s, e))
            .ok()
    });
    let s = script.clone();
    let r = reg.clone();
    let tx = tx.clone();
    let spawned = thread::Builder::new()
        .name(format!("bpftrace-out-{}", script.cluster))
        .spawn(move || {
            let out = Reader {
                reg: &r,
                script: &s,
                tx: &tx,
                run,
            };
            out.run(child, stdin, stdout, err_thread);
        });
    if let Err(e) = spawned {
        log(&format!(
            "script {}: cannot start a reader thread: {e}",
            script.name
        ));
        signal(script, libc::SIGKILL);
    }
}

fn read_stderr(script: &Script, mut err: impl Read) {
    let mut buf = vec![0u8; 8192];
    loop {
        match err.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                script.state.lock().error.push(&text);
            }
        }
    }
}

enum Line {
    Eof,
    Complete,
    TooLong,
}

/// Reads one line into `buf` (without the newline), refusing lines longer
/// than `max` bytes (the rest of such a line is skipped).
fn read_line_bounded(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
    consumed: &mut u64,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if buf.is_empty() {
                Line::Eof
            } else {
                Line::Complete
            });
        }
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(p) => (&avail[..=p], true),
            None => (avail, false),
        };
        let n = chunk.len();
        if !too_long {
            if buf.len() + n > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        *consumed += n as u64;
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

struct Reader<'a> {
    reg: &'a Arc<Registry>,
    script: &'a Arc<Script>,
    tx: &'a Sender<Cmd>,
    run: u64,
}

/// Window of the throughput measurement (pmdabpftrace also uses 5 s).
const WINDOW: Duration = Duration::from_secs(5);

impl Reader<'_> {
    fn fail(&self, why: String) {
        log(&format!("script {}: {why}", self.script.name));
        if let Some((run, at)) = begin_stop(self.script, Some(why)) {
            let _ = self.tx.send(Cmd::Deadline(self.script.clone(), run, at));
        }
    }

    fn run(
        &self,
        mut child: Child,
        stdin: Option<std::process::ChildStdin>,
        stdout: Option<std::process::ChildStdout>,
        err_thread: Option<JoinHandle<()>>,
    ) {
        if let Some(mut stdin) = stdin {
            // bpftrace reads the whole program before printing anything, so
            // writing first cannot deadlock; a failure (bpftrace already
            // gone) shows up as its exit status and stderr.
            let _ = stdin.write_all(self.script.program.as_bytes());
        }
        let settings = &self.reg.settings;
        let max = settings.max_throughput.max(1);
        if let Some(stdout) = stdout {
            let mut r = BufReader::with_capacity(256 * 1024, stdout);
            let mut buf = Vec::with_capacity(4096);
            let mut window_start = Instant::now();
            let mut window_bytes = 0u64;
            let mut failed = false;
            let mut parse_errors = 0u32;
            loop {
                let mut n = 0u64;
                let line = match read_line_bounded(&mut r, &mut buf, max as usize, &mut n) {
                    Ok(l) => l,
                    Err(e) => {
                        log(&format!(
                            "script {}: reading bpftrace output: {e}",
                            self.script.name
                        ));
                        break;
                    }
                };
                if matches!(line, Line::Eof) {
                    break;
                }
                // The line is parsed before it is counted: our own sync
                // marker (a printf the reference does not add) is not
                // bpftrace output the reference would have read, so it
                // counts neither in data_bytes nor against the limit.
                let parsed = (!failed && matches!(line, Line::Complete)).then(|| parse_line(&buf));
                let marker = matches!(
                    &parsed,
                    Some(Ok(Some(Event::Text(crate::event::TextKind::Printf, t))))
                        if t == crate::code::SYNC_MARKER
                );
                if !marker {
                    self.script.state.lock().data_bytes += n;
                }
                if failed {
                    continue;
                }
                if !marker {
                    window_bytes += n;
                }
                let elapsed = window_start.elapsed();
                let over = window_bytes as f64 > max as f64 * WINDOW.as_secs_f64()
                    || (elapsed >= WINDOW
                        && window_bytes as f64 / elapsed.as_secs_f64() > max as f64);
                if elapsed >= WINDOW {
                    window_start = Instant::now();
                    window_bytes = 0;
                }
                if matches!(line, Line::TooLong) || over {
                    failed = true;
                    self.fail(format!(
                        "BPFtrace output exceeds limit of {max} bytes per second"
                    ));
                    continue;
                }
                match parsed {
                    Some(Ok(Some(ev))) => self.apply(ev),
                    Some(Ok(None)) | None => {}
                    Some(Err(e)) => {
                        parse_errors += 1;
                        if parse_errors <= 3 {
                            let shown =
                                String::from_utf8_lossy(&buf[..buf.len().min(200)]).into_owned();
                            log(&format!(
                                "script {}: {e}; line skipped: {shown:?}",
                                self.script.name
                            ));
                        }
                    }
                }
            }
        }
        if let Some(t) = err_thread {
            let _ = t.join();
        }
        let pid = child.id() as libc::pid_t;
        // Wait for the exit without reaping, so the pid stays ours while we
        // mark the process gone under the state lock.
        // SAFETY: waitid writes only into the siginfo we own.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            );
        }
        let mut st = self.script.state.lock();
        st.proc.pid = None;
        let status = child.wait();
        let code = match status {
            Ok(s) => s.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                -s.signal().unwrap_or(0)
            }),
            Err(_) => -1,
        };
        if st.proc.run == self.run {
            st.pid = -1;
            st.exit_code = code;
            st.ready = true;
            st.status = if let Some(f) = st.proc.failure.clone() {
                st.error.set(&f);
                Status::Error
            } else if st.proc.stop_requested || code == 0 {
                Status::Stopped
            } else {
                Status::Error
            };
            let status = st.status;
            let err = st.error.text();
            drop(st);
            if status == Status::Error {
                log(&format!(
                    "script {}: bpftrace exited with code {code}: {}",
                    self.script.name,
                    err.trim()
                ));
            } else {
                log(&format!(
                    "script {}: bpftrace exited with code {code}",
                    self.script.name
                ));
            }
        }
        self.reg.notify_ready();
    }

    fn apply(&self, ev: Event<'_>) {
        let mut st = self.script.state.lock();
        match ev {
            Event::AttachedProbes(n) => st.probes = n,
            Event::LostEvents(n) => {
                // pmdabpftrace has no metric for these: the log says so,
                // the first time and then each time the total doubles.
                let before = st.lost_events;
                st.lost_events = before.saturating_add(n);
                if before == 0 || st.lost_events >= before.saturating_mul(2) {
                    log(&format!(
                        "script {}: bpftrace lost {} events so far (perf buffer full)",
                        self.script.name, st.lost_events
                    ));
                }
            }
            Event::HelperError {
                helper,
                retcode,
                line,
                col,
            } => st.error.push(&format!(
                "WARNING: {helper} failed with {retcode} (line {line}, column {col})\n"
            )),
            Event::Unknown(ty) => {
                drop(st);
                self.reg.log_unknown_type(&ty, self.script);
            }
            ev @ (Event::Maps(_) | Event::Text(..)) => {
                let marker = matches!(&ev, Event::Text(crate::event::TextKind::Printf, t) if t == crate::code::SYNC_MARKER);
                let applied = st.data.apply(ev);
                let warnings = std::mem::take(&mut st.data.warnings);
                let became_ready = (applied.data || marker) && !st.ready;
                if became_ready {
                    st.ready = true;
                }
                drop(st);
                for w in warnings {
                    log(&format!("script {}: {w}", self.script.name));
                }
                if applied.names {
                    self.reg.names_changed();
                }
                if became_ready {
                    self.reg.notify_ready();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let input = b"short\nthis line is far too long\nok\nlast";
        let mut r = BufReader::with_capacity(4, &input[..]);
        let mut buf = Vec::new();
        let mut n = 0;
        assert!(matches!(
            read_line_bounded(&mut r, &mut buf, 10, &mut n).unwrap(),
            Line::Complete
        ));
        assert_eq!(buf, b"short\n");
        assert!(matches!(
            read_line_bounded(&mut r, &mut buf, 10, &mut n).unwrap(),
            Line::TooLong
        ));
        assert!(matches!(
            read_line_bounded(&mut r, &mut buf, 10, &mut n).unwrap(),
            Line::Complete
        ));
        assert_eq!(buf, b"ok\n");
        assert!(matches!(
            read_line_bounded(&mut r, &mut buf, 10, &mut n).unwrap(),
            Line::Complete
        ));
        assert_eq!(buf, b"last");
        assert!(matches!(
            read_line_bounded(&mut r, &mut buf, 10, &mut n).unwrap(),
            Line::Eof
        ));
        assert_eq!(n, input.len() as u64);
    }
}
