//! Help text of the NFS and RPC figures, and where each lives.

use super::rpc::{self, CLIENT_FIELDS};

/// The client figures after `rpc.client.`: one-line and long help.
const CLIENT: &[(&str, &str, &str)] = &[
    (
        "rpccnt",
        "RPC calls made",
        "Remote procedure calls this host's NFS client has issued",
    ),
    (
        "rpcretrans",
        "RPC calls retransmitted",
        "Client RPC calls that had to be sent again after a timeout",
    ),
    (
        "rpcauthrefresh",
        "RPC credential refreshes",
        "Times the client had to refresh its authentication credentials for an RPC call",
    ),
    (
        "netcnt",
        "RPC packets sent and received",
        "Network packets of the client's RPC traffic, all transports",
    ),
    (
        "netudpcnt",
        "RPC packets over UDP",
        "Network packets of the client's RPC traffic carried over UDP",
    ),
    (
        "nettcpcnt",
        "RPC packets over TCP",
        "Network packets of the client's RPC traffic carried over TCP",
    ),
    (
        "nettcpconn",
        "RPC TCP connections made",
        "TCP connections the client opened for RPC",
    ),
];

/// The server figures after `rpc.server.`: one-line and long help.
const SERVER: &[(&str, &str, &str)] = &[
    ("rpccnt", "RPC calls received", "Remote procedure calls the NFS server has received"),
    ("rpcerr", "RPC calls rejected", "Server RPC calls that failed: the sum of bad format, bad authentication and bad client"),
    ("rpcbadfmt", "RPC calls malformed", "Server RPC calls rejected because they could not be decoded"),
    ("rpcbadauth", "RPC calls with bad credentials", "Server RPC calls rejected for failed authentication"),
    ("rpcbadclnt", "RPC calls from unknown clients", "Server RPC calls rejected because the client was not recognised"),
    ("rchits", "reply cache hits", "Requests answered from the server's duplicate request (reply) cache"),
    ("rcmisses", "reply cache misses", "Requests that were not found in the reply cache and had to be executed"),
    ("rcnocache", "requests not cached", "Requests whose replies the server does not cache (idempotent operations)"),
    ("fh_cached", "file handles found cached", "File handle lookups answered from the cache (older kernels only)"),
    ("fh_valid", "file handles validated", "File handles the server checked and found valid (older kernels only)"),
    ("fh_fixup", "file handles fixed up", "File handles the server had to repair (older kernels only)"),
    ("fh_lookup", "file handle lookups", "File handles the server had to look up in the filesystem"),
    ("fh_stale", "stale file handles", "Requests carrying a file handle that no longer refers to a file"),
    ("fh_concurrent", "concurrent file handle uses", "File handle lookups that raced with another user of the same handle (older kernels only)"),
    ("netcnt", "RPC packets received and sent", "Network packets of the server's RPC traffic, all transports"),
    ("netudpcnt", "RPC packets over UDP", "Network packets of the server's RPC traffic carried over UDP"),
    ("nettcpcnt", "RPC packets over TCP", "Network packets of the server's RPC traffic carried over TCP"),
    ("nettcpconn", "RPC packets over TCP (as pmdalinux reports it)", "Network packets of the server's RPC traffic carried over TCP (the net line's third number): pmdalinux 6.0.3 answers this metric, named for the TCP connections accepted, with that count, and this agent does the same so values agree"),
    ("fh_anon", "anonymous file handles", "File handles the server had to resolve without a directory path"),
    ("fh_nocache_dir", "uncached directory handles", "Directory file handles not found in the dentry cache"),
    ("fh_nocache_nondir", "uncached file handles", "Non-directory file handles not found in the dentry cache"),
    ("io_read", "bytes read by clients", "Bytes the server has read from disk on behalf of clients"),
    ("io_write", "bytes written by clients", "Bytes the server has written to disk on behalf of clients"),
    ("th_cnt", "server threads", "Number of nfsd threads, from the th line"),
    ("th_fullcnt", "times all threads were busy", "Times a request arrived while every nfsd thread was busy (older kernels; now always zero)"),
    ("ra_size", "read-ahead cache size", "Entries in the server's read-ahead cache (older kernels; zero when the kernel has no ra line)"),
    ("ra_hits", "read-ahead cache hits", "Read-ahead cache lookups that found an entry, summed over every depth (older kernels; zero otherwise)"),
    ("ra_misses", "read-ahead cache misses", "Read-ahead cache lookups that found nothing (older kernels; zero otherwise)"),
];

/// The thread figures after `nfs.server.threads.`, in item order.
const THREADS: &[(&str, &str, &str)] = &[
    (
        "total",
        "nfsd threads running",
        "Number of nfsd server threads (first pool of /proc/fs/nfsd/pool_threads)",
    ),
    (
        "pools",
        "nfsd thread pools",
        "Number of nfsd thread pools, counted from /proc/fs/nfsd/pool_stats",
    ),
    (
        "requests",
        "requests arrived",
        "Network packets that arrived for the server, summed over its thread pools",
    ),
    (
        "enqueued",
        "requests queued for a thread",
        "Times an arriving request had to wait because no thread was idle, summed over pools",
    ),
    (
        "processed",
        "requests handed to an idle thread",
        "Times an idle thread was woken to handle an arriving request at once, summed over pools",
    ),
    (
        "timedout",
        "idle thread timeouts",
        "Times an idle nfsd thread waited for work and timed out, summed over pools",
    ),
];

fn find<'a>(table: &'a [(&str, &str, &str)], name: &str) -> (&'a str, &'a str) {
    table
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(("", ""), |(_, o, l)| (o, l))
}

/// The slot of a client figure.
pub(super) fn client_slot(name: &str) -> Option<u32> {
    CLIENT_FIELDS
        .iter()
        .position(|f| *f == name)
        .map(|i| i as u32)
}

/// The slot of a server figure (see [`rpc::server_slot`]).
pub(super) fn server_slot(name: &str) -> Option<u32> {
    rpc::server_slot(name).map(|i| i as u32)
}

/// The item of a thread figure.
pub(super) fn thread_item(name: &str) -> Option<u32> {
    THREADS
        .iter()
        .position(|(n, _, _)| *n == name)
        .map(|i| i as u32)
}

/// Help of `rpc.client.NAME`.
pub(super) fn client(name: &str) -> (String, String) {
    let (one, long) = find(CLIENT, name.trim_start_matches("rpc.client."));
    (
        format!("client {one}"),
        format!("{long}, from /proc/net/rpc/nfs. No values without NFS client support."),
    )
}

/// Help of `rpc.server.NAME`.
pub(super) fn server(name: &str) -> (String, String) {
    let (one, long) = find(SERVER, name.trim_start_matches("rpc.server."));
    (
        format!("server {one}"),
        format!("{long}, from /proc/net/rpc/nfsd. No values without a kernel NFS server."),
    )
}

/// Help of `nfs.server.threads.NAME`.
pub(super) fn threads(name: &str) -> (String, String) {
    let (one, long) = find(THREADS, name.trim_start_matches("nfs.server.threads."));
    (
        one.to_string(),
        format!("{long}. No values without a kernel NFS server."),
    )
}
