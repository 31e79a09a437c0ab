//! Getting a source's document, streamed in pieces to a sink (which
//! parses them as they come): blocking HTTP(S) GET with keep-alive (for
//! `https://` and proxied URLs; plain `http://` goes through the
//! non-blocking client in [`crate::http`]), `file://` reads, and script
//! runs (no shell, optional user switch, a timeout that kills the script's
//! whole process group, stderr to the log).

use std::ffi::CString;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::PrometheusError;
use crate::source::READ_CHUNK;

/// A failed fetch: the error and the HTTP status code seen, if any.
pub type FetchFailure = (PrometheusError, i32);

/// Where a document's bytes go as they arrive; returns false when it
/// wants no more (the reader then stops reading).
pub type Sink<'a> = dyn FnMut(&[u8]) -> bool + 'a;

/// The `Accept` header sent to endpoints: OpenMetrics first, then the
/// Prometheus text format, as Prometheus itself asks.
pub const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";

/// The `User-Agent` header sent to endpoints.
pub const USER_AGENT: &str = concat!("pcp-agent-pmda-prometheus/", env!("CARGO_PKG_VERSION"));

/// The HTTP client: one keep-alive connection pool for every source.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new()
    }
}

impl HttpClient {
    /// A client with a keep-alive pool, redirects followed and proxy
    /// settings taken from the environment.
    pub fn new() -> HttpClient {
        let agent = ureq::AgentBuilder::new()
            .max_idle_connections(256)
            .max_idle_connections_per_host(16)
            .try_proxy_from_env(true)
            .user_agent(USER_AGENT)
            .build();
        HttpClient { agent }
    }

    /// GETs `url` with `headers`, the whole exchange bounded by `timeout`,
    /// handing the body to `sink` as it arrives; returns the HTTP status.
    pub fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
        timeout: Duration,
        sink: &mut Sink<'_>,
    ) -> Result<i32, FetchFailure> {
        let mut req = self.agent.get(url).timeout(timeout).set("Accept", ACCEPT);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                return Err((
                    PrometheusError::HttpStatus {
                        code,
                        text: r.status_text().to_string(),
                    },
                    code as i32,
                ))
            }
            Err(ureq::Error::Transport(t)) => {
                return Err((PrometheusError::Transport(t.to_string()), 0))
            }
        };
        let code = resp.status() as i32;
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if !sink(&buf[..n]) {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let err = if e.kind() == std::io::ErrorKind::TimedOut
                        || e.to_string().contains("timed out")
                    {
                        PrometheusError::Timeout(timeout)
                    } else {
                        PrometheusError::Transport(format!("reading body: {e}"))
                    };
                    return Err((err, code));
                }
            }
        }
        Ok(code)
    }
}

/// Reads a `file://` source (everything after the seven characters
/// `file://` is the path, as the reference takes it) into `sink`.
pub fn read_file(path: &str, sink: &mut Sink<'_>) -> Result<(), FetchFailure> {
    let io = |source| {
        (
            PrometheusError::Io {
                path: path.into(),
                source,
            },
            0,
        )
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if !sink(&buf[..n]) {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Mutex;

    fn collect(out: &mut Vec<u8>) -> impl FnMut(&[u8]) -> bool + '_ {
        |b: &[u8]| {
            out.extend_from_slice(b);
            true
        }
    }

    fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn good_script_output_and_stderr() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "ok.sh",
            "#!/bin/sh\necho 'm 1'\necho 'warn: x' >&2\necho 'n 2'\n",
        );
        let logged = Mutex::new(Vec::new());
        let mut body = Vec::new();
        run_script(
            &p,
            None,
            Duration::from_secs(5),
            &mut collect(&mut body),
            &|l| logged.lock().unwrap().push(l.to_string()),
        )
        .unwrap();
        assert_eq!(body, b"m 1\nn 2\n");
        assert_eq!(*logged.lock().unwrap(), ["warn: x"]);
    }

    #[test]
    fn failing_script_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "bad.sh", "#!/bin/sh\necho 'm 1'\nexit 3\n");
        let mut body = Vec::new();
        let e = run_script(
            &p,
            None,
            Duration::from_secs(5),
            &mut collect(&mut body),
            &|_| {},
        )
        .unwrap_err();
        assert_eq!(e.0.to_string(), "script exited with exit status 3");
    }

    #[test]
    fn hanging_script_group_is_killed() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("child.pid");
        let p = script(
            d.path(),
            "hang.sh",
            &format!(
                "#!/bin/sh\nsleep 30 &\necho $! > {}\necho 'm 1'\nsleep 30\n",
                marker.display()
            ),
        );
        let t = Instant::now();
        let mut body = Vec::new();
        let e = run_script(
            &p,
            None,
            Duration::from_millis(300),
            &mut collect(&mut body),
            &|_| {},
        )
        .unwrap_err();
        assert!(matches!(e.0, PrometheusError::ScriptTimeout(_)));
        assert!(t.elapsed() < Duration::from_secs(3));
        // The background grandchild was in the group and is gone too.
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut gone = false;
        for _ in 0..100 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone, "grandchild {pid} survived");
    }

    #[test]
    fn output_past_what_the_sink_wants_is_drained() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "big.sh", "#!/bin/sh\nhead -c 1000000 /dev/zero\n");
        let mut got = 0;
        let mut calls = 0;
        run_script(
            &p,
            None,
            Duration::from_secs(5),
            &mut |b: &[u8]| {
                got += b.len();
                calls += 1;
                false
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!(calls, 1, "no more pieces once the sink said stop");
        assert!(got <= READ_CHUNK);
    }

    #[test]
    fn not_executable_fails_to_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("plain.sh");
        std::fs::write(&p, "#!/bin/sh\necho hi\n").unwrap();
        let e = run_script(
            &p,
            None,
            Duration::from_secs(1),
            &mut |_: &[u8]| true,
            &|_| {},
        )
        .unwrap_err();
        assert!(e.0.to_string().starts_with("cannot execute"), "{}", e.0);
    }

    #[test]
    fn users_resolve() {
        assert_eq!(RunAs::lookup("root").unwrap().uid, 0);
        assert!(RunAs::lookup("no-such-user-xyz").is_err());
    }
}
