//! Running a script source: the user it runs as, no shell, stdout
//! streamed to the sink, stderr to the log, and a timeout that kills the
//! script's whole process group.

use super::{FetchFailure, Sink};
use crate::error::PrometheusError;
use crate::source::READ_CHUNK;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The identity a script runs as (`-u USER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user name.
    pub name: String,
    /// User id.
    pub uid: libc::uid_t,
    /// Primary group id.
    pub gid: libc::gid_t,
    /// Supplementary groups.
    pub groups: Vec<libc::gid_t>,
}

impl RunAs {
    /// Looks a user up in the password database.
    pub fn lookup(name: &str) -> Result<RunAs, PrometheusError> {
        let unknown = || PrometheusError::UnknownUser(name.to_string());
        let cname = CString::new(name).map_err(|_| unknown())?;
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buf = vec![0 as libc::c_char; 16384];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; buf outlives pwd's use.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() {
            return Err(unknown());
        }
        let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
        let mut groups = vec![0 as libc::gid_t; 256];
        let mut n = groups.len() as libc::c_int;
        // SAFETY: groups has room for n entries; n is updated to the count.
        let rc = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc < 0 {
            groups.truncate(0);
            groups.push(gid);
        } else {
            groups.truncate(n.max(0) as usize);
        }
        Ok(RunAs {
            name: name.to_string(),
            uid,
            gid,
            groups,
        })
    }
}

fn set_nonblocking(fd: libc::c_int) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Runs `path` with no shell and no arguments, in its own process group,
/// as `run_as` when given (and this process is root). Standard output is
/// the document, handed to `sink` as it comes (once the sink wants no
/// more, the rest is read and dropped); each standard-error line is
/// handed to `log_stderr`. A script still running at `timeout` has its
/// whole process group killed. A non-zero exit is a failure (the caller
/// drops what it read).
pub fn run_script(
    path: &Path,
    run_as: Option<&RunAs>,
    timeout: Duration,
    sink: &mut Sink<'_>,
    log_stderr: &dyn Fn(&str),
) -> Result<(), FetchFailure> {
    let start = Instant::now();
    let mut cmd = Command::new(path);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ids = run_as.filter(|_| root).cloned();
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(ids) = &ids {
                if libc::setgroups(ids.groups.len() as _, ids.groups.as_ptr()) != 0
                    || libc::setgid(ids.gid) != 0
                    || libc::setuid(ids.uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    // ETXTBSY: the script was just written, and a process forked elsewhere
    // (in this agent or by whoever wrote it) still holds it open for writing
    // until its exec. That passes within milliseconds; retry briefly.
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(5 * attempts));
            }
            Err(source) => {
                return Err((
                    PrometheusError::Exec {
                        path: path.to_path_buf(),
                        source,
                    },
                    0,
                ))
            }
        }
    };
    let pgid = child.id() as libc::pid_t;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    if let Some(o) = &out {
        set_nonblocking(o.as_raw_fd());
    }
    if let Some(e) = &err {
        set_nonblocking(e.as_raw_fd());
    }
    let mut wanted = true;
    let mut errbuf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let deadline = start + timeout;
    let mut timed_out = false;
    let flush_err = |errbuf: &mut Vec<u8>, all: bool| {
        while let Some(i) = memchr::memchr(b'\n', errbuf) {
            log_stderr(&String::from_utf8_lossy(&errbuf[..i]));
            errbuf.drain(..=i);
        }
        if (all && !errbuf.is_empty()) || errbuf.len() > 4096 {
            log_stderr(&String::from_utf8_lossy(errbuf));
            errbuf.clear();
        }
    };
    while out.is_some() || err.is_some() {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        let mut fds = Vec::with_capacity(2);
        if let Some(o) = &out {
            fds.push(libc::pollfd {
                fd: o.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if let Some(e) = &err {
            fds.push(libc::pollfd {
                fd: e.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let wait_ms = (deadline - now).as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: fds is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if let Some(o) = out.as_mut() {
            loop {
                match o.read(&mut chunk) {
                    Ok(0) => {
                        out = None;
                        break;
                    }
                    Ok(n) => {
                        if wanted {
                            wanted = sink(&chunk[..n]);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        out = None;
                        break;
                    }
                }
            }
        }
        if let Some(e) = err.as_mut() {
            loop {
                match e.read(&mut chunk) {
                    Ok(0) => {
                        err = None;
                        break;
                    }
                    Ok(n) => {
                        errbuf.extend_from_slice(&chunk[..n]);
                        flush_err(&mut errbuf, false);
                    }
                    Err(x) if x.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(x) if x.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        err = None;
                        break;
                    }
                }
            }
        }
    }
    flush_err(&mut errbuf, true);
    // The pipes are closed (or time is up): wait for the exit status.
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if !timed_out && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(None) => {
                timed_out = true;
                break None;
            }
            Err(_) => break None,
        }
    };
    if timed_out {
        // SAFETY: signalling the process group the child leads.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = child.wait();
        return Err((PrometheusError::ScriptTimeout(timeout), 0));
    }
    // Reap any stragglers of the group that outlived the script.
    // SAFETY: signalling the process group the child led.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => {
            let why = match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit status {c}"),
                (None, Some(sig)) => format!("signal {sig}"),
                _ => s.to_string(),
            };
            Err((PrometheusError::ScriptFailed(why), 0))
        }
        None => Err((PrometheusError::ScriptFailed("unknown status".into()), 0)),
    }
}
