//! The `nfs` collector: the NFS client's and server's RPC figures
//! (`/proc/net/rpc/nfs`, `/proc/net/rpc/nfsd`, `rpc.*`), their requests
//! per NFS version and type (`nfs*.{client,server}.{calls,reqs}`) and the
//! NFS server's threads (`/proc/fs/nfsd`, `nfs.server.threads.*`). None
//! of these fails: pmdalinux reports a missing file (no NFS, no nfsd) as
//! "no values". It owns the request type instance domains.

pub mod names;
pub mod rpc;

use pcp_core::agent::Sink;
use pcp_core::{Instance, PmError};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::system::System;
use crate::value::Put;
use names::{NFS3_NAMES, NFS4_CLIENT_NAMES, NFS4_SERVER_NAMES, NFS_NAMES};
use rpc::{NfsdThreads, RpcSide, SERVER_FIELDS};

/// /proc/net/rpc/nfs.
const CLIENT: Need = Need::new(Id::Nfs, 0);
/// /proc/net/rpc/nfsd.
const SERVER: Need = Need::new(Id::Nfs, 1);
/// /proc/fs/nfsd/pool_threads and pool_stats.
const THREADS: Need = Need::new(Id::Nfs, 2);

/// The collector's state.
#[derive(Debug, Default)]
pub struct Nfs {
    /// The client's and the server's figures, when their file was there
    /// in this fetch.
    client: Option<RpcSide>,
    server: Option<RpcSide>,
    /// The server's figures with every number zero, when it has no file
    /// (the read-ahead figures then read zero, as pmdalinux's zeroed
    /// structure gives them).
    zeroed: RpcSide,
    /// nfsd thread figures, `None` when pmdalinux would have none.
    threads: Option<NfsdThreads>,
}

impl Nfs {
    pub(crate) fn new(_: &System) -> Nfs {
        Nfs {
            zeroed: rpc::parse_server(b""),
            ..Nfs::default()
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & CLIENT.bit != 0 {
            self.client = sys.read("proc/net/rpc/nfs").ok().map(rpc::parse_client);
            sys.done(CLIENT, Ok(()));
        }
        if want & SERVER.bit != 0 {
            self.server = sys.read("proc/net/rpc/nfsd").ok().map(rpc::parse_server);
            sys.done(SERVER, Ok(()));
        }
        if want & THREADS.bit != 0 {
            self.threads = threads(sys);
            sys.done(THREADS, Ok(()));
        }
    }
}

/// The nfsd thread figures: none without pool_threads, or while nfsd
/// runs without pool statistics.
fn threads(sys: &mut System) -> Option<NfsdThreads> {
    let n = sys
        .read("proc/fs/nfsd/pool_threads")
        .ok()
        .and_then(rpc::parse_pool_threads)?;
    let mut t = NfsdThreads {
        threads: n as u64,
        ..Default::default()
    };
    // Pool figures exist only while nfsd runs.
    if n > 0 {
        if let Ok(b) = sys.read("proc/fs/nfsd/pool_stats") {
            rpc::parse_pool_stats(b, &mut t);
        }
    }
    (n <= 0 || t.pools > 0).then_some(t)
}

/// Each side's counts for one NFS version, and the first instance id:
/// `None` without the side's file.
fn version(c: &Collectors, client: bool, ver: u32) -> Option<(&[u64], u32)> {
    let side = if client {
        c.nfs.client.as_ref()?
    } else {
        c.nfs.server.as_ref()?
    };
    Some(match (ver, client) {
        (2, _) => (&side.v2[..], 0),
        (3, _) => (&side.v3[..], 0),
        (_, true) => (&side.v4[..], 0),
        // The server's operations are instances 1 up; slot 0 (the NULL
        // count) is neither an instance nor in the sum.
        (_, false) => (side.v4.get(1..).unwrap_or(&[]), 1),
    })
}

/// `nfs*.SIDE.calls` (0) and `.reqs` (1).
fn request(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    match rest {
        "calls" => Some(0),
        "reqs" => Some(1),
        _ => None,
    }
}

/// The requests of NFS version `ver` of one side, summed (`reqs` 0) or
/// per type.
fn requests(
    c: &Collectors,
    ver: u32,
    client: bool,
    reqs: u32,
    out: &mut Sink<'_>,
) -> Result<(), PmError> {
    let reqs = reqs == 1;
    let Some((v, first)) = version(c, client, ver) else {
        return Ok(());
    };
    if reqs {
        for (k, x) in v.iter().enumerate() {
            out.put_u64(first + k as u32, *x);
        }
    } else {
        // Summed as pmdalinux sums them, in 32 bits.
        out.set_u64(v.iter().fold(0u64, |a, x| a.wrapping_add(*x)) & 0xffff_ffff);
    }
    Ok(())
}

fn request_help(name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('.').collect();
    let (v, side, what) = (parts[0], parts[1], parts[2]);
    let ver = match v {
        "nfs" => "NFSv2",
        "nfs3" => "NFSv3",
        _ => "NFSv4",
    };
    let src = if side == "client" {
        "/proc/net/rpc/nfs"
    } else {
        "/proc/net/rpc/nfsd"
    };
    let line = match v {
        "nfs" => "proc2",
        "nfs3" => "proc3",
        _ if side == "client" => "proc4",
        _ => "proc4ops",
    };
    let kind = if v == "nfs4" && side == "server" {
        "operations"
    } else {
        "requests"
    };
    if what == "calls" {
        (
            format!("{ver} {side} {kind}, all types"),
            format!("Sum of the {ver} {side} {kind} of every type (the {line} line of {src}). No values without NFS {side} support."),
        )
    } else {
        (
            format!("{ver} {side} {kind} by type"),
            format!("{ver} {side} {kind} of each type, one instance per type, from the {line} line of {src}. No values without NFS {side} support."),
        )
    }
}

mod help;

/// The nfs collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family(
        "rpc.client.",
        &[CLIENT],
        |_, r, _| help::client_slot(r),
        |c, i, out| {
            if let Some(side) = &c.nfs.client {
                out.set_u64(side.scalars.get(i as usize).copied().unwrap_or(0));
            }
            Ok(())
        },
    )
    .made_help(help::client),
    Binding::family(
        "rpc.server.",
        &[SERVER],
        |_, r, _| help::server_slot(r),
        |c, i, out| {
            let ra = SERVER_FIELDS
                .get(i as usize)
                .is_some_and(|n| n.starts_with("ra_"));
            let side = match &c.nfs.server {
                Some(s) => s,
                None if ra => &c.nfs.zeroed,
                None => return Ok(()),
            };
            out.set_u64(side.scalars.get(i as usize).copied().unwrap_or(0));
            Ok(())
        },
    )
    .made_help(help::server),
    Binding::family(
        "nfs.server.threads.",
        &[THREADS],
        |_, r, _| help::thread_item(r),
        |c, i, out| {
            if let Some(t) = c.nfs.threads {
                out.set_u64(t.get(i as usize));
            }
            Ok(())
        },
    )
    .made_help(help::threads),
    Binding::family("nfs.client.", &[CLIENT], request, |c, a, out| {
        requests(c, 2, true, a, out)
    })
    .made_help(request_help),
    Binding::family("nfs.server.", &[SERVER], request, |c, a, out| {
        requests(c, 2, false, a, out)
    })
    .made_help(request_help),
    Binding::family("nfs3.client.", &[CLIENT], request, |c, a, out| {
        requests(c, 3, true, a, out)
    })
    .made_help(request_help),
    Binding::family("nfs3.server.", &[SERVER], request, |c, a, out| {
        requests(c, 3, false, a, out)
    })
    .made_help(request_help),
    Binding::family("nfs4.client.", &[CLIENT], request, |c, a, out| {
        requests(c, 4, true, a, out)
    })
    .made_help(request_help),
    Binding::family("nfs4.server.", &[SERVER], request, |c, a, out| {
        requests(c, 4, false, a, out)
    })
    .made_help(request_help),
]];

/// A fixed list of request types from id `first`.
fn types(first: u32, names: &[&str]) -> Vec<Instance> {
    names
        .iter()
        .enumerate()
        .map(|(k, n)| Instance::new(first + k as u32, *n))
        .collect()
}

/// The request type instance domains.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::NFS.serial, &[], |_| types(0, &NFS_NAMES)).help(
        "NFSv2 request types",
        "One instance per NFS version 2 procedure (null, getattr, ...), with fixed ids from 0.",
    ),
    IndomBinding::new(descs::NFS3.serial, &[], |_| types(0, &NFS3_NAMES)).help(
        "NFSv3 request types",
        "One instance per NFS version 3 procedure (null, getattr, ... commit), with fixed ids from 0.",
    ),
    IndomBinding::new(descs::NFS4_CLIENT.serial, &[], |_| types(0, &NFS4_CLIENT_NAMES)).help(
        "NFSv4 client request types",
        "One instance per NFS version 4 client request type, with fixed ids from 0 (null) in the kernel's counting order.",
    ),
    IndomBinding::new(descs::NFS4_SERVER.serial, &[], |_| types(1, &NFS4_SERVER_NAMES)).help(
        "NFSv4 server operations",
        "One instance per NFS version 4 server operation, with fixed ids from 1 in the order of the kernel's proc4ops line.",
    ),
];
