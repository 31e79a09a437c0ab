//! The manager thread: starts each bpftrace in its own process group, stops
//! it (SIGINT, then SIGKILL at the deadline), expires idle scripts and stops
//! everything at shutdown.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use crate::script::{Script, Status};

use super::reader::{read_stderr, Reader};
use super::{log, Registry};

pub(super) enum Cmd {
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
pub(super) fn begin_stop(script: &Script, failure: Option<String>) -> Option<(u64, Instant)> {
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
