//! Running one Nagios plugin as Nagios does: a command line with shell
//! metacharacters goes to `/bin/sh -c`, any other is split on spaces and
//! executed directly (a bare plugin name is looked up in the
//! monitoring-plugins directories, then on `PATH`); standard output is the
//! plugin's output (at most [`MAX_OUTPUT`] bytes kept); the exit code is
//! the state; a plugin that outlives its timeout is killed with its whole
//! process group and the result is CRITICAL with Nagios's text, as Nagios
//! 4.4's default `service_check_timeout_state=c` does.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most output kept from one run (the rest is read and dropped).
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Where bare plugin names are looked up first.
pub const PLUGIN_DIRS: &[&str] = &[
    "/usr/lib/nagios/plugins",
    "/usr/lib/monitoring-plugins",
    "/usr/lib64/nagios/plugins",
    "/usr/local/nagios/libexec",
];

/// Characters that make Nagios hand a command line to the shell.
const SHELL_CHARS: &[char] = &[
    '!', '$', '^', '&', '*', '(', ')', '~', '[', ']', '\\', '|', '{', '}', ';', '<', '>', '?',
    '\'', '"', '`',
];

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub state: u32,
    /// The plugin's standard output (or the agent's explanation).
    pub output: String,
    /// Wall time of the run, in seconds.
    pub exec_time: f64,
    /// The plugin was killed at its timeout.
    pub timed_out: bool,
    /// Output past [`MAX_OUTPUT`] was dropped.
    pub truncated: bool,
    /// The plugin could not be started (missing, not executable, no such
    /// user).
    pub failed_to_start: bool,
}

/// A user to run plugins as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks a user up by name (or numeric id).
pub fn lookup_user(name: &str) -> Option<RunAs> {
    let cname = CString::new(name).ok()?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the sizes given; getpwnam_r writes
    // only within `pw` and `buf`.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    if rc == 0 && !out.is_null() {
        return Some(RunAs {
            uid: pw.pw_uid,
            gid: pw.pw_gid,
        });
    }
    name.parse().ok().map(|uid| RunAs { uid, gid: uid })
}

/// Resolves a bare program name: the plugin directories, then `PATH`.
pub fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    PLUGIN_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The command to spawn for a command line, as Nagios builds it.
fn command_for(line: &str) -> Result<Command, String> {
    if line.contains(SHELL_CHARS) {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(line);
        return Ok(c);
    }
    let mut words = line.split_whitespace();
    let prog = words.next().ok_or("empty command line")?;
    let exe = resolve(prog).ok_or_else(|| format!("(No such plugin: {prog})"))?;
    let mut c = Command::new(exe);
    c.args(words);
    Ok(c)
}

/// Runs `line` with `timeout`, as `user` when given.
pub fn run(line: &str, timeout: Duration, user: Option<RunAs>) -> RunResult {
    let start = Instant::now();
    let failed = |output: String| RunResult {
        state: 3,
        output,
        exec_time: start.elapsed().as_secs_f64(),
        timed_out: false,
        truncated: false,
        failed_to_start: true,
    };
    let mut cmd = match command_for(line) {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(u) = user {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(u.gid) != 0
                    || libc::setuid(u.uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("(Could not start plugin: {e})")),
    };
    let pgid = child.id() as i32;
    let deadline = start + timeout;
    let mut out = Vec::with_capacity(1024);
    let mut truncated = false;
    let mut timed_out = false;
    if let Some(mut stdout) = child.stdout.take() {
        timed_out = !read_until(&mut stdout, deadline, &mut out, &mut truncated);
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if !timed_out && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Ok(None) => {
                timed_out = true;
                break None;
            }
            Err(_) => break None,
        }
    };
    if status.is_none() {
        // SAFETY: kill(2) on the plugin's own process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.wait();
    }
    let exec_time = start.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (state, output) = if timed_out {
        (
            2,
            format!("(Service check timed out after {exec_time:.2} seconds)"),
        )
    } else {
        match status.and_then(|s| s.code()) {
            Some(c @ 0..=3) => (c as u32, text),
            Some(c) => (3, format!("(Return code of {c} is out of bounds) {text}")),
            None => {
                let sig = status.and_then(|s| s.signal()).unwrap_or(0);
                (3, format!("(Plugin killed by signal {sig}) {text}"))
            }
        }
    };
    RunResult {
        state,
        output,
        exec_time,
        timed_out,
        truncated,
        failed_to_start: false,
    }
}

/// Reads `r` to its end or the deadline, keeping at most [`MAX_OUTPUT`]
/// bytes. Returns false if the deadline passed first.
fn read_until<R: Read + AsRawFd>(
    r: &mut R,
    deadline: Instant,
    out: &mut Vec<u8>,
    truncated: &mut bool,
) -> bool {
    let fd = r.as_raw_fd();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
        if n == 0 {
            continue;
        }
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return true;
        }
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(k) => {
                let room = MAX_OUTPUT.saturating_sub(out.len());
                out.extend_from_slice(&buf[..k.min(room)]);
                if k > room {
                    *truncated = true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// True when `path` names an executable regular file.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_states() {
        for (code, state) in [(0, 0), (1, 1), (2, 2), (3, 3), (7, 3)] {
            let r = run(
                &format!("echo 'x|a=1'; exit {code}"),
                Duration::from_secs(5),
                None,
            );
            assert_eq!(r.state, state, "{r:?}");
            assert!(r.output.contains("x|a=1"), "{r:?}");
        }
    }

    #[test]
    fn a_hung_plugin_is_killed_at_its_timeout() {
        let t = Instant::now();
        let r = run("sleep 30; echo never", Duration::from_millis(300), None);
        assert!(r.timed_out && r.state == 2, "{r:?}");
        assert!(
            r.output.starts_with("(Service check timed out after"),
            "{r:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_plugin_is_unknown() {
        let r = run("no_such_plugin_here -w 1", Duration::from_secs(1), None);
        assert_eq!((r.state, r.failed_to_start), (3, true));
        assert!(r.output.contains("No such plugin"), "{r:?}");
    }

    #[test]
    fn output_is_capped() {
        let r = run(
            "head -c 200000 /dev/zero | tr '\\0' a",
            Duration::from_secs(5),
            None,
        );
        assert!(r.truncated);
        assert_eq!(r.output.len(), MAX_OUTPUT);
    }
}
