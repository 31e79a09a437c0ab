//! The `IcmpMsg` lines of `/proc/net/snmp`: ICMP messages by type.

use crate::parse::{fields, lines, parse_u64_wrapping, ParseError};

/// Number of ICMP message types pmdalinux keeps counts for (0 to 255).
pub const ICMPMSG_TYPES: usize = 256;

/// ICMP message counts by type from the `IcmpMsg` lines of
/// `/proc/net/snmp`: per type number, the received (`InTypeN`) and sent
/// (`OutTypeN`) counts, `None` for a type the kernel does not list (it
/// prints only the types it has counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpMsg {
    /// Indexed by type number: [received, sent].
    pub types: Vec<[Option<u64>; 2]>,
}

impl Default for IcmpMsg {
    fn default() -> IcmpMsg {
        IcmpMsg {
            types: vec![[None; 2]; ICMPMSG_TYPES],
        }
    }
}

fn bad(what: &str, line: &[u8]) -> ParseError {
    ParseError::line(what, line)
}

/// Parses the `IcmpMsg:` line pairs of /proc/net/snmp (a header line of
/// `InTypeN`/`OutTypeN` names, then a line of values; the kernel splits
/// long lists over several pairs). Other sections are skipped. Type
/// numbers of 256 and above are ignored, as pmdalinux ignores them.
pub fn parse(buf: &[u8]) -> Result<IcmpMsg, ParseError> {
    let mut out = IcmpMsg::default();
    let mut it = lines(buf).filter(|l| l.starts_with(b"IcmpMsg:"));
    while let Some(head) = it.next() {
        let Some(vals) = it.next() else {
            return Err(bad("IcmpMsg header without values", head));
        };
        let (mut h, mut v) = (fields(head).skip(1), fields(vals).skip(1));
        loop {
            let (name, val) = match (h.next(), v.next()) {
                (None, None) => break,
                (Some(n), Some(x)) => (n, x),
                _ => return Err(bad("IcmpMsg names and values differ in number", vals)),
            };
            let (dir, num) = if let Some(n) = name.strip_prefix(b"InType") {
                (0, n)
            } else if let Some(n) = name.strip_prefix(b"OutType") {
                (1, n)
            } else {
                return Err(bad("IcmpMsg column is not InTypeN or OutTypeN", name));
            };
            let ty = std::str::from_utf8(num)
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| bad("IcmpMsg type is not a number", name))?;
            let count = parse_u64_wrapping(val).ok_or_else(|| bad("IcmpMsg value", val))?;
            if let Some(slot) = out.types.get_mut(ty as usize) {
                slot[dir] = Some(count);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmpmsg_pairs() {
        let text = b"Ip: Forwarding DefaultTTL\nIp: 1 64\nIcmpMsg: InType3 InType8 OutType0\nIcmpMsg: 2 5 7\nIcmpMsg: OutType3 InType300\nIcmpMsg: 9 1\nTcp: RtoMin\nTcp: 200\n";
        let m = parse(text).unwrap();
        assert_eq!(m.types.len(), ICMPMSG_TYPES);
        assert_eq!(m.types[3], [Some(2), Some(9)]);
        assert_eq!(m.types[8], [Some(5), None]);
        assert_eq!(m.types[0], [None, Some(7)]);
        assert_eq!(m.types[1], [None, None]);
        let m = parse(b"Ip: A\nIp: 1\n").unwrap();
        assert!(m.types.iter().all(|t| *t == [None, None]));
    }

    #[test]
    fn icmpmsg_garbage_is_an_error() {
        for bad in [
            &b"IcmpMsg: InType3\n"[..],
            b"IcmpMsg: InType3 InType4\nIcmpMsg: 1\n",
            b"IcmpMsg: InTypeX\nIcmpMsg: 1\n",
            b"IcmpMsg: Bogus3\nIcmpMsg: 1\n",
            b"IcmpMsg: InType3\nIcmpMsg: z\n",
            b"IcmpMsg: InType99999999999\nIcmpMsg: 1\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
