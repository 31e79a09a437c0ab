//! Moving one client's bytes: whole PDUs in, replies out, under the
//! client's deadline, for a [`Session`].
//!
//! The socket's read and write timeouts are the deadline. Waiting for the
//! next request is not bounded (pmlogger keeps a quiet connection between
//! samples, as pmcd allows), except before the handshake (the client must
//! send its credentials within the deadline) and by the optional idle
//! limit; once a PDU has started it must be complete within the deadline,
//! and a reply must be taken within it, or the connection is closed. Reads
//! are buffered, so a PROFILE and the FETCH after it cost one `read`.

use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use crate::error::PmError;
use crate::pdu::{decode_header, Encoder, PduError, HEADER_LEN};

use super::session::{Outcome, Session};

/// Why a connection ended, other than the client closing it.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// A PDU was not complete within the deadline, or the handshake did
    /// not come in time, or a reply was not taken in time.
    #[error("client too slow: {0}")]
    Slow(&'static str),
    /// No request within the idle limit.
    #[error("client idle too long")]
    Idle,
    /// The length word of a PDU is out of range (the stream cannot be
    /// followed any further).
    #[error("{0}")]
    Framing(PduError),
    /// The session ended it (a malformed PDU, a refused handshake).
    #[error("protocol error from the client")]
    Protocol,
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Timing and size bounds of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Deadline for the handshake, for completing a PDU, for a reply.
    pub deadline: Duration,
    /// Longest wait for a request, if bounded.
    pub idle: Option<Duration>,
    /// Largest PDU accepted.
    pub max_pdu: usize,
}

/// A read buffer holding at most one PDU beyond what was consumed.
struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl Inbox {
    fn new(max_pdu: usize) -> Inbox {
        Inbox {
            // Grown as PDUs need it, up to the largest allowed.
            buf: vec![0; max_pdu.min(4096)],
            start: 0,
            end: 0,
        }
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads more bytes, making room for `need` buffered bytes.
    fn fill<R: Read>(&mut self, r: &mut R, need: usize) -> io::Result<usize> {
        if self.start > 0 && self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.start + need > self.buf.len() {
            self.buf.resize(self.start + need, 0);
        }
        loop {
            match r.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next whole PDU (`None` at a clean end of stream).
    fn next<R: Read>(
        &mut self,
        r: &mut R,
        limits: &ConnLimits,
        handshake: bool,
    ) -> Result<Option<(usize, usize)>, ConnError> {
        let waiting = Instant::now();
        let mut started = (self.buffered() > 0).then(Instant::now);
        let mut want = HEADER_LEN;
        loop {
            if self.buffered() >= HEADER_LEN {
                let h = decode_header(&self.buf[self.start..self.end], limits.max_pdu)
                    .map_err(ConnError::Framing)?;
                want = h.len as usize;
                if self.buffered() >= want {
                    let at = self.start;
                    self.start += want;
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    }
                    return Ok(Some((at, want)));
                }
            }
            if let Some(t) = started {
                if t.elapsed() > limits.deadline {
                    return Err(ConnError::Slow(
                        "a PDU was not complete within the deadline",
                    ));
                }
            }
            match self.fill(r, want) {
                Ok(0) if self.buffered() == 0 => return Ok(None),
                Ok(0) => {
                    return Err(ConnError::Io(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "end of stream inside a PDU",
                    )))
                }
                Ok(_) => {
                    started.get_or_insert_with(Instant::now);
                }
                Err(e) if timed_out(&e) => {
                    if started.is_some() {
                        continue;
                    }
                    if handshake {
                        return Err(ConnError::Slow("no credentials within the deadline"));
                    }
                    if limits.idle.is_some_and(|d| waiting.elapsed() > d) {
                        return Err(ConnError::Idle);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn send<W: Write>(w: &mut W, bytes: &[u8]) -> Result<(), ConnError> {
    if bytes.is_empty() {
        return Ok(());
    }
    w.write_all(bytes).map_err(|e| {
        if timed_out(&e) {
            ConnError::Slow("a reply was not taken within the deadline")
        } else {
            ConnError::Io(e)
        }
    })
}

/// Serves one connection until the client leaves, errs or is too slow.
/// The stream's read and write timeouts must already be the deadline
/// (a read timeout shorter than the idle limit, if one is set).
pub fn serve<S: Read + Write>(
    stream: &mut S,
    session: &mut Session,
    limits: &ConnLimits,
) -> Result<(), ConnError> {
    send(stream, session.greeting())?;
    let mut inbox = Inbox::new(limits.max_pdu);
    let mut handshake = true;
    loop {
        let next = match inbox.next(stream, limits, handshake) {
            Ok(Some(range)) => range,
            Ok(None) => return Ok(()),
            Err(ConnError::Framing(e)) => {
                // Best effort: tell the client why, then hang up.
                let code = match e {
                    PduError::BadLength { len, max } if len > max as i64 => PmError::TOOBIG,
                    _ => PmError::IPC,
                };
                let mut out = Vec::with_capacity(16);
                Encoder::default().error(code.code(), &mut out);
                let _ = stream.write_all(&out);
                return Err(ConnError::Framing(e));
            }
            Err(e) => return Err(e),
        };
        handshake = false;
        let (at, len) = next;
        let outcome = session.handle(&inbox.buf[at..at + len]);
        send(stream, session.reply())?;
        if outcome == Outcome::Close {
            return Err(ConnError::Protocol);
        }
    }
}
