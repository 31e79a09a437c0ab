//! NFS and Sun RPC statistics: `/proc/net/rpc/nfs`, `/proc/net/rpc/nfsd`
//! and `/proc/fs/nfsd/pool_{threads,stats}`.
//!
//! The parsers follow pmdalinux's reading of these files field by field:
//! each line is recognised by its leading keyword and its numbers land in
//! fixed slots; a later line may overwrite a slot an earlier one set (the
//! server's `fh` line replaces the stale and lookup counts of the old
//! `rc` layout). Numbers that are missing leave their slots at zero, and
//! nothing in these files makes a parse fail: a file that is absent only
//! means "no values", as pmdalinux reports it.

use crate::parse::{fields, lines};

/// Request types per NFS version, as pmdalinux counts them.
pub const NFS2_COUNTERS: usize = 18;
/// NFSv3 request types.
pub const NFS3_COUNTERS: usize = 22;
/// NFSv4 client request types.
pub const NFS4_CLIENT_COUNTERS: usize = 56;
/// NFSv4 server operations (instances 1 to 71).
pub const NFS4_SERVER_COUNTERS: usize = 71;

/// Client scalars, in this order: rpccnt, rpcretrans, rpcauthrefresh,
/// netcnt, netudpcnt, nettcpcnt, nettcpconn.
pub const CLIENT_FIELDS: [&str; 7] = [
    "rpccnt",
    "rpcretrans",
    "rpcauthrefresh",
    "netcnt",
    "netudpcnt",
    "nettcpcnt",
    "nettcpconn",
];

/// Server scalars, in slot order.
pub const SERVER_FIELDS: [&str; 28] = [
    "rpccnt",
    "rpcerr",
    "rpcbadfmt",
    "rpcbadauth",
    "rpcbadclnt",
    "rchits",
    "rcmisses",
    "rcnocache",
    "fh_cached",
    "fh_valid",
    "fh_fixup",
    "fh_lookup",
    "fh_stale",
    "fh_concurrent",
    "netcnt",
    "netudpcnt",
    "nettcpcnt",
    "nettcpconn",
    "fh_anon",
    "fh_nocache_dir",
    "fh_nocache_nondir",
    "io_read",
    "io_write",
    "th_cnt",
    "th_fullcnt",
    "ra_size",
    "ra_hits",
    "ra_misses",
];

/// Slot of a server field by name. pmdalinux 6.0.3 answers
/// rpc.server.nettcpconn with the TCP packet count (the net line's third
/// number, nettcpcnt) rather than the connection count; the agent gives
/// the same value so they agree.
pub fn server_slot(name: &str) -> Option<usize> {
    let name = if name == "nettcpconn" {
        "nettcpcnt"
    } else {
        name
    };
    SERVER_FIELDS.iter().position(|f| *f == name)
}

/// One side (client or server) of the RPC statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpcSide {
    /// The scalars ([`CLIENT_FIELDS`] or [`SERVER_FIELDS`] order).
    pub scalars: Vec<u64>,
    /// NFSv2 request counts.
    pub v2: Vec<u64>,
    /// NFSv3 request counts.
    pub v3: Vec<u64>,
    /// NFSv4 request counts: the client's from 0, the server's operations
    /// from 1 (slot 0 is the server's NULL count).
    pub v4: Vec<u64>,
}

impl RpcSide {
    fn reset(&mut self, nscalars: usize, v4: usize) {
        for (v, n) in [
            (&mut self.scalars, nscalars),
            (&mut self.v2, NFS2_COUNTERS),
            (&mut self.v3, NFS3_COUNTERS),
            (&mut self.v4, v4),
        ] {
            v.clear();
            v.resize(n, 0);
        }
    }
}

/// The leading decimal digits of a token, as `%u`/`strtoul` read them
/// (0 when there are none), and whether the whole token was digits.
fn leading(tok: &[u8]) -> (u64, bool) {
    let mut v = 0u64;
    let mut n = 0;
    for &b in tok {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add((b - b'0') as u64);
        n += 1;
    }
    (v, n == tok.len() && n > 0)
}

/// Reads numbers after the keyword into `slots` the way `sscanf("%u %u
/// ...")` does: stops at the first token that does not start with a
/// digit, and after a token with trailing non-digits (which it still
/// counts, like `0.000`).
fn scan<'a>(rest: impl Iterator<Item = &'a [u8]>, out: &mut [u64], slots: &[usize]) {
    let mut it = rest;
    for &slot in slots {
        let Some(tok) = it.next() else { return };
        if !tok.first().is_some_and(|b| b.is_ascii_digit()) {
            return;
        }
        let (v, whole) = leading(tok);
        if let Some(s) = out.get_mut(slot) {
            *s = v;
        }
        if !whole {
            return;
        }
    }
}

/// Reads the per-type counts of a `procN COUNT c0 c1 ...` line (the count
/// is skipped, as pmdalinux skips it) into `out[first..]`.
fn counts<'a>(rest: impl Iterator<Item = &'a [u8]>, out: &mut [u64], first: usize) {
    for (slot, tok) in out.iter_mut().skip(first).zip(rest.skip(1)) {
        *slot = leading(tok).0;
    }
}

/// Parses /proc/net/rpc/nfs.
pub fn parse_client(buf: &[u8]) -> RpcSide {
    let mut side = RpcSide::default();
    fill_client(buf, &mut side);
    side
}

fn fill_client(buf: &[u8], side: &mut RpcSide) {
    side.reset(CLIENT_FIELDS.len(), NFS4_CLIENT_COUNTERS);
    for line in lines(buf) {
        let mut f = fields(line);
        let Some(key) = f.next() else { continue };
        match key {
            b"net" => scan(f, &mut side.scalars, &[3, 4, 5, 6]),
            b"rpc" => scan(f, &mut side.scalars, &[0, 1, 2]),
            b"proc2" => counts(f, &mut side.v2, 0),
            b"proc3" => counts(f, &mut side.v3, 0),
            b"proc4" => counts(f, &mut side.v4, 0),
            _ => {}
        }
    }
}

/// Parses /proc/net/rpc/nfsd (with no bytes: every figure zero).
pub fn parse_server(buf: &[u8]) -> RpcSide {
    let mut side = RpcSide::default();
    fill_server(buf, &mut side);
    side
}

fn fill_server(buf: &[u8], side: &mut RpcSide) {
    side.reset(SERVER_FIELDS.len(), NFS4_SERVER_COUNTERS + 1);
    let s = |name: &str| server_slot(name).unwrap_or(usize::MAX);
    for line in lines(buf) {
        let mut f = fields(line);
        let Some(key) = f.next() else { continue };
        let out = &mut side.scalars;
        match key {
            b"rc" => {
                let slots: Vec<usize> = SERVER_FIELDS[5..14].iter().map(|n| s(n)).collect();
                scan(f, out, &slots)
            }
            b"fh" => scan(
                f,
                out,
                &[
                    s("fh_stale"),
                    s("fh_lookup"),
                    s("fh_anon"),
                    s("fh_nocache_dir"),
                    s("fh_nocache_nondir"),
                ],
            ),
            b"io" => scan(f, out, &[s("io_read"), s("io_write")]),
            b"th" => scan(f, out, &[s("th_cnt"), s("th_fullcnt")]),
            b"ra" => {
                // ra SIZE D0 .. D9 MISSES: the hits are the ten depths summed.
                let mut ra = [0u64; 12];
                let all: Vec<usize> = (0..12).collect();
                scan(f, &mut ra, &all);
                out[s("ra_size")] = ra[0];
                out[s("ra_hits")] = ra[1..11]
                    .iter()
                    .fold(out[s("ra_hits")], |a, v| a.wrapping_add(*v));
                out[s("ra_misses")] = ra[11];
            }
            b"net" => scan(f, out, &[14, 15, 16, 17]),
            b"rpc" => scan(f, out, &[0, 1, 2, 3, 4]),
            b"proc2" => counts(f, &mut side.v2, 0),
            b"proc3" => counts(f, &mut side.v3, 0),
            b"proc4ops" => counts(f, &mut side.v4, 1),
            b"proc4" => {
                // proc4 COUNT NULL COMPOUND: the NULL count goes to slot 0.
                if let Some(tok) = f.nth(1) {
                    side.v4[0] = leading(tok).0;
                }
            }
            _ => {}
        }
    }
}

/// nfsd thread pool figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NfsdThreads {
    /// Threads (first number of pool_threads).
    pub threads: u64,
    /// Pools counted in pool_stats.
    pub pools: u64,
    /// Packets arrived, summed over pools.
    pub arrived: u64,
    /// Sockets enqueued, summed.
    pub enqueued: u64,
    /// Threads woken, summed.
    pub woken: u64,
    /// Threads timed out, summed.
    pub timedout: u64,
}

impl NfsdThreads {
    /// The value of thread metric `i` (total, pools, requests, enqueued,
    /// processed, timedout).
    pub fn get(&self, i: usize) -> u64 {
        [
            self.threads,
            self.pools,
            self.arrived,
            self.enqueued,
            self.woken,
            self.timedout,
        ]
        .get(i)
        .copied()
        .unwrap_or(0)
    }
}

/// The thread count from /proc/fs/nfsd/pool_threads; `None` if it does
/// not start with a number.
pub fn parse_pool_threads(buf: &[u8]) -> Option<i64> {
    let tok = fields(buf).next()?;
    let s = std::str::from_utf8(tok).ok()?;
    s.parse().ok()
}

/// Sums the pools of /proc/fs/nfsd/pool_stats (a `#` header line, then
/// `POOL ARRIVED ENQUEUED WOKEN TIMEDOUT` rows) into `t`; rows stop at
/// the first that is not five numbers.
pub fn parse_pool_stats(buf: &[u8], t: &mut NfsdThreads) {
    for line in lines(buf) {
        if line.starts_with(b"#") {
            continue;
        }
        let mut v = [0u64; 5];
        let mut n = 0;
        for (slot, tok) in v.iter_mut().zip(fields(line)) {
            let (x, whole) = leading(tok);
            if !whole {
                break;
            }
            *slot = x;
            n += 1;
        }
        if n < 5 {
            break;
        }
        t.pools += 1;
        t.arrived = t.arrived.wrapping_add(v[1]);
        t.enqueued = t.enqueued.wrapping_add(v[2]);
        t.woken = t.woken.wrapping_add(v[3]);
        t.timedout = t.timedout.wrapping_add(v[4]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines_overwrite_like_pmdalinux() {
        let s = parse_server(
            b"rc 1 2 3\nfh 4 0 0 0 0\nio 10 20\nth 8 0 0.000 0.000\nra 32 1 2 3 4 5 6 7 8 9 10 11\nnet 5 1 4 2\nrpc 5 0 0 0 0\nproc4 2 7 9\nproc4ops 3 0 1 2\n",
        );
        let g = |n: &str| s.scalars[server_slot(n).unwrap()];
        assert_eq!((g("rchits"), g("rcmisses"), g("rcnocache")), (1, 2, 3));
        assert_eq!(g("fh_stale"), 4);
        assert_eq!((g("io_read"), g("io_write")), (10, 20));
        assert_eq!((g("th_cnt"), g("th_fullcnt")), (8, 0));
        assert_eq!((g("ra_size"), g("ra_hits"), g("ra_misses")), (32, 55, 11));
        // nettcpconn answers with nettcpcnt, as pmdalinux does.
        assert_eq!((g("netcnt"), g("nettcpconn")), (5, 4));
        assert_eq!(&s.v4[..4], &[7, 0, 1, 2]);
    }
}
