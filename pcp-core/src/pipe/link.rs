//! One daemon PMDA process and the PDUs exchanged with it, as pmcd
//! exchanges them: the agent speaks first (PDU_CREDS within 3 s), gets our
//! CREDS back, may start not ready (then says PM_ERR_PMDAREADY when it
//! is), and answers each request with one PDU within the deadline. A
//! timeout, a malformed reply, a reply of the wrong type or the agent's
//! exit breaks the link (pmcd drops the agent the same way).

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::PmError;
use crate::pdu::{decode, decode_header, CredsPdu, Encoder, Pdu, HEADER_LEN, PDU_FLAG_AUTH};

use super::conf::AgentSpec;

/// How long an agent has to send its credentials (pmcd's `-q`, 3 s).
const CREDS_WAIT: Duration = Duration::from_secs(3);

/// The largest PDU accepted from an agent (a fetch of many strings is big;
/// pmcd sets no limit, we keep 64 MiB as the daemon loop does).
const MAX_AGENT_PDU: usize = crate::pdu::DEFAULT_MAX_PDU;

/// Why starting an agent failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The command could not be run.
    #[error("cannot start {cmd}: {source}")]
    Spawn {
        /// The command.
        cmd: String,
        /// Why.
        source: io::Error,
    },
    /// The agent did not send its credentials as a PMDA must.
    #[error("no PDU_CREDS from the agent at start-up ({0})")]
    Handshake(PmError),
}

/// A running agent process.
pub(super) struct Link {
    child: Child,
    to: Option<ChildStdin>,
    from: ChildStdout,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// The feature flags of the agent's CREDS (AUTH, CONTAINER).
    pub(super) flags: u32,
    /// False while a `notready` agent has not said it is ready.
    pub(super) ready: bool,
    timeout: Duration,
}

impl Link {
    /// Starts the agent and completes the handshake.
    pub(super) fn start(spec: &AgentSpec, timeout: Duration) -> Result<Link, LinkError> {
        let mut command = Command::new(&spec.argv[0]);
        command
            .args(&spec.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = &spec.work_dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|source| LinkError::Spawn {
            cmd: spec.argv.join(" "),
            source,
        })?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LinkError::Handshake(PmError::IPC));
        };
        let mut link = Link {
            child,
            to: Some(to),
            from,
            buf: Vec::with_capacity(4096),
            out: Vec::with_capacity(4096),
            flags: 0,
            ready: !spec.notready,
            timeout,
        };
        match link.read(Instant::now() + CREDS_WAIT) {
            Ok(Pdu::Creds(c)) => {
                let (_, flags) = c.version_flags().unwrap_or((0, 0));
                link.flags = flags;
                let ours = Pdu::Creds(CredsPdu::version(flags & PDU_FLAG_AUTH));
                link.send(&ours, std::process::id())
                    .map_err(LinkError::Handshake)?;
                Ok(link)
            }
            Ok(_) => Err(LinkError::Handshake(PmError::IPC)),
            Err(e) => Err(LinkError::Handshake(e)),
        }
    }

    /// Sends one PDU that gets no reply (PROFILE, ATTR, a NOTCONN notice).
    pub(super) fn send(&mut self, pdu: &Pdu, from: u32) -> Result<(), PmError> {
        self.out.clear();
        Encoder::default().encode(pdu, from, &mut self.out);
        let to = self.to.as_mut().ok_or(PmError::IPC)?;
        to.write_all(&self.out)
            .and_then(|()| to.flush())
            .map_err(|_| PmError::IPC)
    }

    /// Sends a request and reads its reply. An agent saying it is not ready
    /// (PM_ERR_PMDANOTREADY) makes this and later requests PM_ERR_AGAIN
    /// until it says it is ready again.
    pub(super) fn request(&mut self, pdu: &Pdu, from: u32) -> Result<Pdu, PmError> {
        self.check_ready();
        if !self.ready {
            return Err(PmError::AGAIN);
        }
        self.send(pdu, from)?;
        match self.read(Instant::now() + self.timeout)? {
            Pdu::Error(e) if e.code == PmError::PMDANOTREADY.code() => {
                self.ready = false;
                Err(PmError::AGAIN)
            }
            reply => Ok(reply),
        }
    }

    /// Looks, without waiting, for the PM_ERR_PMDAREADY a not-ready agent
    /// sends when it is ready.
    pub(super) fn check_ready(&mut self) {
        while !self.ready && readable(&self.from, Duration::ZERO) {
            match self.read(Instant::now() + self.timeout) {
                Ok(Pdu::Error(e)) if e.code == PmError::PMDAREADY.code() => self.ready = true,
                _ => return,
            }
        }
    }

    /// Reads one whole PDU before `deadline`.
    fn read(&mut self, deadline: Instant) -> Result<Pdu, PmError> {
        self.buf.clear();
        let mut want = HEADER_LEN;
        while self.buf.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !readable(&self.from, left) {
                return Err(PmError::TIMEOUT);
            }
            let have = self.buf.len();
            self.buf.resize(want, 0);
            match self.from.read(&mut self.buf[have..]) {
                Ok(0) => return Err(PmError::IPC),
                Ok(n) => self.buf.truncate(have + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(have),
                Err(_) => return Err(PmError::IPC),
            }
            if self.buf.len() >= HEADER_LEN && want == HEADER_LEN {
                let h = decode_header(&self.buf, MAX_AGENT_PDU).map_err(|_| PmError::IPC)?;
                want = h.len as usize;
            }
        }
        decode(&self.buf).map(|(_, p)| p).map_err(|_| PmError::IPC)
    }

    /// How the process ended, once it has (`None` while it runs).
    pub(super) fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status),
            // Not ours to wait for any more: count it as gone.
            Err(_) => Some(std::process::ExitStatus::default()),
        }
    }
}

impl Drop for Link {
    /// Closes the agent's input (it exits on end of file) and, as pmcd,
    /// kills it if it has not gone within 150 ms.
    fn drop(&mut self) {
        self.to = None;
        let deadline = Instant::now() + Duration::from_millis(150);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `wait` for `fd` to have something to read (or be closed).
fn readable(fd: &impl AsRawFd, wait: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return n > 0;
        }
    }
}
