//! TCP socket counts per state from the kernel's socket-diagnostics
//! netlink interface (`NETLINK_SOCK_DIAG`), the live-system fast path for
//! `network.tcpconn.*` and `network.tcpconn6.*`.
//!
//! Reading `/proc/net/tcp` and `/proc/net/tcp6` costs a walk of the whole
//! TCP established hash table each (hundreds of thousands of buckets on a
//! machine with a lot of memory, about 5 ms apiece even with a handful of
//! sockets) plus text formatting per socket. One inet-diag dump request of
//! the `TCPDIAG_GETSOCK` kind asks for every family at once, so the table
//! is walked once, and each socket comes back as a small binary record.
//! The counts are the same: both paths list the same listening, connected,
//! request (reported as SYN_RECV) and time-wait (reported with its
//! sub-state) sockets of the caller's network namespace.
//!
//! The socket is opened on first use and kept. When the interface is
//! missing or refused (a kernel without `inet_diag`, a sandbox that blocks
//! netlink) the caller falls back to the files.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `NETLINK_SOCK_DIAG` protocol number.
const NETLINK_SOCK_DIAG: libc::c_int = 4;
/// The inet-diag request type that dumps every address family in one walk
/// (the family in the request body is not used as a filter).
const TCPDIAG_GETSOCK: u16 = 18;
/// `NLM_F_REQUEST | NLM_F_ROOT | NLM_F_MATCH` (`NLM_F_DUMP`).
const DUMP_FLAGS: u16 = 0x1 | 0x100 | 0x200;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Netlink message header length.
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_req`: family, src_len, dst_len, ext (u8 each), a
/// 48-byte socket id, states and dbs (u32 each).
const REQ_LEN: usize = 4 + 48 + 4 + 4;
/// Bytes of `struct inet_diag_msg` read here: family and state.
const MSG_MIN: usize = 2;
/// Receive buffer size: the kernel fills dump replies up to 32 KiB.
const RECV_BUF: usize = 64 * 1024;

/// Counts per state (index = the kernel's state number, 1 ESTABLISHED ..
/// 11 CLOSING) for IPv4 (`[0]`) and IPv6 (`[1]`) TCP sockets.
pub type TcpStates = [[u64; 12]; 2];

/// An inet-diag netlink socket, reused between fetches.
#[derive(Debug)]
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl SockDiag {
    /// Opens the netlink socket.
    pub fn open() -> io::Result<SockDiag> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a freshly opened descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SockDiag {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Counts the TCP sockets of this network namespace by family and
    /// state, in one dump.
    pub fn tcp_states(&mut self) -> io::Result<TcpStates> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send_request(seq)?;
        let mut counts: TcpStates = [[0; 12]; 2];
        loop {
            // SAFETY: the buffer is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("sock_diag reply of {n} bytes exceeds the {RECV_BUF}-byte buffer"),
                ));
            }
            if count_replies(&self.buf[..n], seq, &mut counts)? {
                return Ok(counts);
            }
        }
    }

    fn send_request(&self, seq: u32) -> io::Result<()> {
        let mut msg = [0u8; NLMSG_HDRLEN + REQ_LEN];
        msg[0..4].copy_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
        msg[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
        msg[6..8].copy_from_slice(&DUMP_FLAGS.to_ne_bytes());
        msg[8..12].copy_from_slice(&seq.to_ne_bytes());
        // Port id 0 (bytes 12..16) addresses the kernel.
        let body = &mut msg[NLMSG_HDRLEN..];
        body[0] = libc::AF_INET as u8;
        // Every state bit: listeners, connections, requests, time-wait.
        body[52..56].copy_from_slice(&u32::MAX.to_ne_bytes());
        // SAFETY: a zeroed sockaddr_nl with its family set is a valid
        // address of the kernel; the message buffer is valid for its length.
        let sent = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Adds the sockets of one datagram of dump replies to `counts`; true once
/// the dump's end (`NLMSG_DONE`) is seen. Replies to another sequence
/// number (a stale dump) are skipped.
fn count_replies(mut data: &[u8], seq: u32, counts: &mut TcpStates) -> io::Result<bool> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {what}"));
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let msg_seq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(bad("truncated netlink message"));
        }
        let payload = &data[NLMSG_HDRLEN..len];
        if msg_seq == seq {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .ok_or_else(|| bad("short error message"))?;
                    return Err(io::Error::from_raw_os_error(code.saturating_neg()));
                }
                _ => {
                    if payload.len() < MSG_MIN {
                        return Err(bad("short socket record"));
                    }
                    let family = match payload[0] as i32 {
                        libc::AF_INET => 0,
                        libc::AF_INET6 => 1,
                        _ => 2,
                    };
                    if let Some(slot) = counts
                        .get_mut(family)
                        .and_then(|c| c.get_mut(payload[1] as usize))
                    {
                        *slot += 1;
                    }
                }
            }
        }
        // Messages are 4-byte aligned.
        let next = (len + 3) & !3;
        data = data.get(next..).unwrap_or(&[]);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn record(family: i32, state: u8) -> Vec<u8> {
        let mut r = vec![0u8; 72];
        r[0] = family as u8;
        r[1] = state;
        r
    }

    #[test]
    fn replies_are_counted_by_family_and_state_up_to_done() {
        let mut data = Vec::new();
        data.extend(message(20, 7, &record(libc::AF_INET, 1)));
        data.extend(message(20, 7, &record(libc::AF_INET, 1)));
        data.extend(message(20, 7, &record(libc::AF_INET6, 10)));
        // A stale reply to an earlier request is not counted.
        data.extend(message(20, 6, &record(libc::AF_INET, 6)));
        let mut c: TcpStates = [[0; 12]; 2];
        assert!(!count_replies(&data, 7, &mut c).unwrap());
        assert_eq!((c[0][1], c[1][10], c[0][6]), (2, 1, 0));
        let done = message(NLMSG_DONE, 7, &0i32.to_ne_bytes());
        assert!(count_replies(&done, 7, &mut c).unwrap());
    }

    #[test]
    fn kernel_errors_and_truncation_are_errors() {
        let mut c: TcpStates = [[0; 12]; 2];
        let err = message(NLMSG_ERROR, 3, &(-libc::ENOENT).to_ne_bytes());
        let e = count_replies(&err, 3, &mut c).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let mut cut = message(20, 3, &record(libc::AF_INET, 1));
        cut.truncate(20);
        cut[0] = 200;
        assert!(count_replies(&cut, 3, &mut c).is_err());
        let short = message(20, 3, &[1]);
        assert!(count_replies(&short, 3, &mut c).is_err());
        // Out-of-range states are ignored, never indexed.
        assert!(!count_replies(&message(20, 3, &record(libc::AF_INET, 99)), 3, &mut c).unwrap());
    }
}
