//! The socket tables of `/proc/net`: TCP and UDP sockets counted by state
//! (`tcp`, `tcp6`, `udp`, `udp6`), unix domain sockets by type and state
//! (`unix`), raw sockets (`raw`, `raw6`).

use crate::parse::{fields, hex, lines, ParseError};

/// Parses a /proc/net socket table into counts per state (index = the
/// kernel's state number, 1 ESTABLISHED .. 11 CLOSING).
pub fn parse_sockets(buf: &[u8]) -> Result<[u64; 12], ParseError> {
    let mut c = [0u64; 12];
    for line in lines(buf).skip(1) {
        let bad = || ParseError::line("socket table", line);
        let st = fields(line).nth(3).ok_or_else(bad)?;
        let st = hex(st).ok_or_else(bad)?;
        if let Some(slot) = c.get_mut(st as usize) {
            *slot += 1;
        }
    }
    Ok(c)
}

/// Unix domain socket counts: datagram sockets, stream sockets
/// established, stream sockets listening, all stream sockets.
pub type UnixCounts = [u64; 4];

/// Counts the sockets of /proc/net/unix by type and state. Rows whose
/// Type and St columns (the fifth and sixth) are not hexadecimal, the
/// header among them, are not sockets and are skipped, as pmdalinux skips
/// them. Type 2 is a datagram socket, type 1 a stream socket, which is
/// listening in state 1 and established in state 3.
pub fn count_unix(buf: &[u8]) -> UnixCounts {
    let mut c = [0u64; 4];
    for line in lines(buf) {
        let mut f = fields(line).skip(4);
        let (Some(ty), Some(st)) = (f.next().and_then(hex), f.next().and_then(hex)) else {
            continue;
        };
        match ty {
            2 => c[0] += 1,
            1 => {
                match st {
                    1 => c[2] += 1,
                    3 => c[1] += 1,
                    _ => {}
                }
                c[3] += 1;
            }
            _ => {}
        }
    }
    c
}

/// Counts the sockets of a raw socket table (/proc/net/raw or raw6): the
/// lines after the header.
pub fn count_raw(buf: &[u8]) -> u64 {
    buf.split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.is_empty())
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_states() {
        let c = parse_sockets(
            b"  sl  local_address rem_address   st tx_queue\n\
   0: 0100007F:2382 00000000:0000 0A 00000000:00000000\n\
   1: 0100007F:238C 0100007F:0000 01 00000000:00000000\n\
   2: 0100007F:238D 0100007F:0000 06 00000000:00000000\n\
   3: 0100007F:238E 0100007F:0000 06 00000000:00000000\n",
        )
        .unwrap();
        assert_eq!((c[1], c[6], c[10]), (1, 2, 1));
        assert!(parse_sockets(b"h\n 0: x y\n").is_err());
    }

    #[test]
    fn unix_and_raw_counts() {
        let c = count_unix(
            b"Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 23861 /run/a\n\
0000000000000000: 00000003 00000000 00000000 0001 03 31460\n\
0000000000000000: 00000003 00000000 00000000 0001 03 31461 /run/b\n\
0000000000000000: 00000002 00000000 00000000 0002 01 16009 /dev/log\n\
0000000000000000: 00000002 00000000 00000000 0005 01 16010\n",
        );
        assert_eq!(c, [1, 2, 1, 3]);
        assert_eq!(count_raw(b"  sl  local_address\n   0: x\n   1: y\n"), 2);
        assert_eq!(count_raw(b"  sl  local_address\n"), 0);
    }
}
