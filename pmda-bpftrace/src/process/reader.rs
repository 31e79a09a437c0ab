//! The reader threads of a running bpftrace: its stderr, and its JSON
//! output lines (bounded in length and rate) applied to the script's data.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Child;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::event::{parse_line, Event};
use crate::script::{Script, Status};

use super::manager::{begin_stop, Cmd};
use super::{log, Registry};

pub(super) fn read_stderr(script: &Script, mut err: impl Read) {
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

pub(super) struct Reader<'a> {
    pub(super) reg: &'a Arc<Registry>,
    pub(super) script: &'a Arc<Script>,
    pub(super) tx: &'a Sender<Cmd>,
    pub(super) run: u64,
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

    pub(super) fn run(
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
