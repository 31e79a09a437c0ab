//! Small per-file parsers: `/proc/net/softnet_stat`, `/proc/locks`, the
//! socket tables `/proc/net/{tcp,tcp6,udp,udp6}` (counted by state) and
//! the `IcmpMsg` lines of `/proc/net/snmp`, `/proc/swaps`, and the unix
//! and raw socket tables `/proc/net/{unix,raw,raw6}`.

use crate::read::{fields, lines, parse_u64_wrapping};

/// A file whose layout surprised the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMisc(pub String);

fn bad(what: &str, line: &[u8]) -> BadMisc {
    BadMisc(format!("{what}: {:?}", String::from_utf8_lossy(line)))
}

fn hex(f: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(f).ok()?;
    u64::from_str_radix(s, 16).ok()
}

/// Softnet columns pmdalinux reports, in its item order: processed,
/// dropped, time_squeeze, cpu_collision, received_rps, flow_limit_count.
pub const SOFTNET_COLUMNS: [usize; 6] = [0, 1, 2, 8, 9, 10];

/// The columns a softnet_stat row must have for each of
/// [`SOFTNET_COLUMNS`] to be reported: pmdalinux reads the first eleven
/// and reports the first four counters from nine columns on (2.6.x), the
/// received_rps from ten (2.6.35), the flow_limit_count from eleven
/// (3.11); fewer, and those metrics are "not supported by this version".
pub const SOFTNET_NEEDS: [usize; 6] = [9, 9, 9, 9, 10, 11];

/// Parses /proc/net/softnet_stat (one row of hex columns per online CPU)
/// into `(cpu, [six counters])`, and returns the number of columns of
/// the last row (which pmdalinux goes by; see [`SOFTNET_NEEDS`]). The CPU
/// is the row's 13th column where the kernel prints it (5.10 and later),
/// else the row number.
pub fn parse_softnet(buf: &[u8], out: &mut Vec<(u32, [u64; 6])>) -> Result<usize, BadMisc> {
    out.clear();
    let mut last = 0;
    let mut cols = [0u64; 16];
    for (row, line) in lines(buf).enumerate() {
        let mut n = 0;
        for f in fields(line) {
            if n < cols.len() {
                cols[n] = hex(f).ok_or_else(|| bad("softnet_stat", line))?;
            }
            n += 1;
        }
        if n < 3 {
            return Err(bad("softnet_stat", line));
        }
        let mut v = [0u64; 6];
        for (slot, &c) in v.iter_mut().zip(SOFTNET_COLUMNS.iter()) {
            *slot = if c < n { cols[c] } else { 0 };
        }
        let cpu = if n >= 13 { cols[12] as u32 } else { row as u32 };
        out.push((cpu, v));
        last = n;
    }
    Ok(last)
}

/// Lock counts by class (posix, flock, lease) and mode (read, write, all).
pub type LockCounts = [[u64; 3]; 3];

/// Parses /proc/locks: `N: CLASS KIND MODE PID ...`, counting as pmdalinux
/// does: POSIX, ACCESS and OFDLCK (open file description) locks are posix
/// locks, FLOCK flock locks, LEASE and DELEG (NFS delegation) leases; READ
/// and WRITE count as such and RW as both. Waiters (`N: -> ...`) are not
/// held locks and are skipped, as are other classes and lines whose PID is
/// not a number.
pub fn parse_locks(buf: &[u8]) -> Result<LockCounts, BadMisc> {
    let mut c: LockCounts = [[0; 3]; 3];
    for line in lines(buf) {
        let mut f = fields(line);
        let (Some(_), Some(class)) = (f.next(), f.next()) else {
            return Err(bad("locks", line));
        };
        if class == b"->" {
            continue;
        }
        let class = if [&b"POSIX"[..], b"ACCESS", b"OFDLCK"]
            .iter()
            .any(|p| class.starts_with(p))
        {
            0
        } else if class.starts_with(b"FLOCK") {
            1
        } else if class.starts_with(b"DELEG") || class.starts_with(b"LEASE") {
            2
        } else {
            continue;
        };
        let mode = f.nth(1).ok_or_else(|| bad("locks", line))?;
        let pid_ok = f
            .next()
            .and_then(|p| std::str::from_utf8(p).ok()?.parse::<i64>().ok())
            .is_some();
        if !pid_ok {
            continue;
        }
        if mode.starts_with(b"READ") {
            c[class][0] += 1;
        } else if mode.starts_with(b"WRITE") {
            c[class][1] += 1;
        } else if mode.starts_with(b"RW") {
            c[class][0] += 1;
            c[class][1] += 1;
        }
        c[class][2] += 1;
    }
    Ok(c)
}

/// Parses a /proc/net socket table into counts per state (index = the
/// kernel's state number, 1 ESTABLISHED .. 11 CLOSING).
pub fn parse_sockets(buf: &[u8]) -> Result<[u64; 12], BadMisc> {
    let mut c = [0u64; 12];
    for line in lines(buf).skip(1) {
        let st = fields(line)
            .nth(3)
            .ok_or_else(|| bad("socket table", line))?;
        let st = hex(st).ok_or_else(|| bad("socket table", line))?;
        if let Some(slot) = c.get_mut(st as usize) {
            *slot += 1;
        }
    }
    Ok(c)
}

/// One row of /proc/buddyinfo: NUMA node, zone, free blocks per order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuddyRow {
    /// NUMA node.
    pub node: u32,
    /// Zone name (DMA, DMA32, Normal, ...).
    pub zone: String,
    /// Free blocks of each order (2^order pages each).
    pub free: Vec<u64>,
}

/// Parses /proc/buddyinfo (`Node 0, zone   Normal  1 3 36 ...`).
pub fn parse_buddyinfo(buf: &[u8], out: &mut Vec<BuddyRow>) -> Result<(), BadMisc> {
    out.clear();
    for line in lines(buf) {
        let mut f = fields(line);
        let (Some(b"Node"), Some(node), Some(b"zone"), Some(zone)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad("buddyinfo", line));
        };
        let node = node
            .strip_suffix(b",")
            .and_then(crate::read::parse_u64)
            .ok_or_else(|| bad("buddyinfo", line))?;
        let free = f
            .map(crate::read::parse_u64)
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| bad("buddyinfo", line))?;
        out.push(BuddyRow {
            node: node as u32,
            zone: String::from_utf8_lossy(zone).into_owned(),
            free,
        });
    }
    Ok(())
}

/// Size of one utmp record (glibc's `struct utmp` on 64-bit Linux).
pub const UTMP_RECORD: usize = 384;
/// Offset of `ut_user` in a utmp record.
const UTMP_USER: usize = 44;
/// `ut_type` of a user's login session.
const USER_PROCESS: i16 = 7;

/// Counts login sessions in a utmp file as pmdalinux does: users and root
/// users among the USER_PROCESS records with a user name, and every record
/// except USER_PROCESS records without one. A trailing partial record is
/// ignored, as getutent(3) ignores it.
pub fn count_logins(buf: &[u8]) -> [u64; 3] {
    let mut n = [0u64; 3];
    for rec in buf.chunks_exact(UTMP_RECORD) {
        let ty = i16::from_ne_bytes([rec[0], rec[1]]);
        if ty == USER_PROCESS {
            let user = &rec[UTMP_USER..UTMP_USER + 32];
            let len = user.iter().position(|&b| b == 0).unwrap_or(32);
            if len == 0 {
                continue;
            }
            if &user[..len] == b"root" {
                n[1] += 1;
            }
            n[0] += 1;
        }
        n[2] += 1;
    }
    n
}

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

/// Parses the `IcmpMsg:` line pairs of /proc/net/snmp (a header line of
/// `InTypeN`/`OutTypeN` names, then a line of values; the kernel splits
/// long lists over several pairs) into `out`. Other sections are skipped.
/// Type numbers of 256 and above are ignored, as pmdalinux ignores them.
pub fn parse_icmpmsg(buf: &[u8], out: &mut IcmpMsg) -> Result<(), BadMisc> {
    out.types.clear();
    out.types.resize(ICMPMSG_TYPES, [None; 2]);
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
    Ok(())
}

/// One active swap area of /proc/swaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapArea {
    /// The device or file path (the instance name).
    pub path: String,
    /// Size in Kbytes.
    pub size: u32,
    /// Kbytes in use.
    pub used: u32,
    /// Priority.
    pub priority: i32,
}

/// Parses /proc/swaps. As pmdalinux does, only lines naming a path
/// (starting with `/`) and carrying five fields are swap areas; the header
/// and anything else is skipped. A number that does not parse is a format
/// error.
pub fn parse_swaps(buf: &[u8], out: &mut Vec<SwapArea>) -> Result<(), BadMisc> {
    out.clear();
    for line in lines(buf) {
        if line.first() != Some(&b'/') {
            continue;
        }
        let f: Vec<&[u8]> = fields(line).collect();
        if f.len() < 5 {
            continue;
        }
        let num = |x: &[u8]| std::str::from_utf8(x).ok()?.parse::<i64>().ok();
        let (Some(size), Some(used), Some(prio)) = (num(f[2]), num(f[3]), num(f[4])) else {
            return Err(bad("swaps", line));
        };
        let path = String::from_utf8_lossy(f[0]).into_owned();
        // Each path once, as pmdalinux matches areas by path.
        if out.iter().any(|a| a.path == path) {
            continue;
        }
        out.push(SwapArea {
            path,
            size: size as u32,
            used: used as u32,
            priority: prio as i32,
        });
    }
    Ok(())
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
    fn icmpmsg_pairs() {
        let mut m = IcmpMsg::default();
        let text = b"Ip: Forwarding DefaultTTL\nIp: 1 64\nIcmpMsg: InType3 InType8 OutType0\nIcmpMsg: 2 5 7\nIcmpMsg: OutType3 InType300\nIcmpMsg: 9 1\nTcp: RtoMin\nTcp: 200\n";
        parse_icmpmsg(text, &mut m).unwrap();
        assert_eq!(m.types.len(), ICMPMSG_TYPES);
        assert_eq!(m.types[3], [Some(2), Some(9)]);
        assert_eq!(m.types[8], [Some(5), None]);
        assert_eq!(m.types[0], [None, Some(7)]);
        assert_eq!(m.types[1], [None, None]);
        // A later parse forgets types that are gone.
        parse_icmpmsg(b"Ip: A\nIp: 1\n", &mut m).unwrap();
        assert!(m.types.iter().all(|t| *t == [None, None]));
    }

    #[test]
    fn icmpmsg_garbage_is_an_error() {
        let mut m = IcmpMsg::default();
        for bad in [
            &b"IcmpMsg: InType3\n"[..],
            b"IcmpMsg: InType3 InType4\nIcmpMsg: 1\n",
            b"IcmpMsg: InTypeX\nIcmpMsg: 1\n",
            b"IcmpMsg: Bogus3\nIcmpMsg: 1\n",
            b"IcmpMsg: InType3\nIcmpMsg: z\n",
            b"IcmpMsg: InType99999999999\nIcmpMsg: 1\n",
        ] {
            assert!(
                parse_icmpmsg(bad, &mut m).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn buddyinfo_rows() {
        let mut v = Vec::new();
        parse_buddyinfo(
            b"Node 0, zone      DMA      0      0      1 \nNode 1, zone   Normal      1      3\n",
            &mut v,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[1].node, v[1].zone.as_str()), (1, "Normal"));
        assert_eq!(v[0].free, vec![0, 0, 1]);
        assert!(parse_buddyinfo(b"Node x, zone DMA 1\n", &mut v).is_err());
        assert!(parse_buddyinfo(b"Node 0, zone DMA 1 z\n", &mut v).is_err());
    }

    #[test]
    fn softnet_rows() {
        let mut v = Vec::new();
        parse_softnet(
            b"008dca8c 00000000 00000002 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005 00000000 00000001 00000000 00000000\n",
            &mut v,
        )
        .unwrap();
        assert_eq!(v, vec![(1, [0x8dca8c, 0, 2, 3, 4, 5])]);
        // A 3.10 kernel's ten columns: no flow_limit_count.
        let ten = b"000008ac 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000007\n";
        assert_eq!(parse_softnet(ten, &mut v).unwrap(), 10);
        assert_eq!(v, vec![(0, [0x8ac, 0, 0, 0, 7, 0])]);
        assert_eq!(
            parse_softnet(b"0000000a 00000001 00000002\n0000000b 0 0\n", &mut v).unwrap(),
            3
        );
        assert_eq!(v[1], (1, [11, 0, 0, 0, 0, 0]));
        assert!(parse_softnet(b"zz 0 0\n", &mut v).is_err());
    }

    #[test]
    fn locks_by_class_and_mode() {
        let c = parse_locks(
            b"1: FLOCK  ADVISORY  WRITE 30481 fe:00:6094874 0 EOF\n\
2: FLOCK  ADVISORY  READ 30481 fe:00:10133506 0 EOF\n\
3: POSIX  ADVISORY  WRITE 1 00:1a:3 0 EOF\n\
3: -> POSIX  ADVISORY  WRITE 2 00:1a:3 0 EOF\n\
4: OFDLCK ADVISORY  READ -1 00:1a:4 0 EOF\n\
5: DELEG  ACTIVE    RW 77 00:1a:5 0 EOF\n",
        )
        .unwrap();
        assert_eq!(c, [[1, 1, 2], [1, 1, 2], [1, 1, 1]]);
    }

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
    fn swap_areas() {
        let mut v = Vec::new();
        parse_swaps(
            b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
/dev/vda2                               partition\t2097148\t\t1024\t\t-2\n\
/swapfile                               file\t\t1048572\t\t0\t\t10\n",
            &mut v,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            SwapArea {
                path: "/dev/vda2".into(),
                size: 2097148,
                used: 1024,
                priority: -2
            }
        );
        assert_eq!(v[1].priority, 10);
        assert!(parse_swaps(b"/dev/x partition big 0 -1\n", &mut v).is_err());
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
