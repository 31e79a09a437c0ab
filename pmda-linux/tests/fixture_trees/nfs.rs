//! The nfs collector: NFS client and server and RPC figures.

use super::*;

/// The numbers of the line of `text` starting with `key`, after the key.
fn line_nums(text: &str, key: &str) -> Vec<u64> {
    let l = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} line"));
    l.split_whitespace()
        .skip(1)
        .map(|w| w.split('.').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn nfs_client_server_and_rpc_figures() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let nfs = read(&root, "proc/net/rpc/nfs");
    let nfsd = read(&root, "proc/net/rpc/nfsd");
    let v = |a: &mut LinuxPmda, n: &str| u(&one(a, n));

    // Client: rpc CALLS RETRANS AUTHREFRESH, net PACKETS UDP TCP TCPCONN.
    let rpc = line_nums(&nfs, "rpc");
    let net = line_nums(&nfs, "net");
    assert_eq!(v(&mut a, "rpc.client.rpccnt"), rpc[0]);
    assert_eq!(v(&mut a, "rpc.client.rpcretrans"), rpc[1]);
    assert_eq!(v(&mut a, "rpc.client.rpcauthrefresh"), rpc[2]);
    assert_eq!(v(&mut a, "rpc.client.netcnt"), net[0]);
    assert_eq!(v(&mut a, "rpc.client.nettcpconn"), net[3]);
    // NFSv3 client requests: the count (22) then one number per type.
    let p3 = line_nums(&nfs, "proc3");
    let reqs = fetch(&mut a, "nfs3.client.reqs").unwrap();
    assert_eq!(reqs.len(), 22);
    assert_eq!(u(&reqs["getattr"]), p3[2]);
    assert_eq!(u(&reqs["readdir+"]), p3[18]);
    assert_eq!(u(&reqs["commit"]), p3[22]);
    assert_eq!(v(&mut a, "nfs3.client.calls"), p3[1..].iter().sum::<u64>());
    // No proc2 line in this client: zeros, as pmdalinux leaves them.
    assert_eq!(v(&mut a, "nfs.client.calls"), 0);
    // NFSv4 client: the kernel counts 69 types, pmdalinux the first 56.
    let p4 = line_nums(&nfs, "proc4");
    let reqs = fetch(&mut a, "nfs4.client.reqs").unwrap();
    assert_eq!(reqs.len(), 56);
    assert_eq!(u(&reqs["null"]), p4[1]);
    assert_eq!(u(&reqs["deallocate"]), p4[56]);
    assert_eq!(
        v(&mut a, "nfs4.client.calls"),
        p4[1..57].iter().sum::<u64>()
    );

    // Server: rc HITS MISSES NOCACHE; fh STALE ...; io READ WRITE; th
    // THREADS FULL; ra SIZE DEPTH0..9 MISSES; net; rpc CALLS ERR BADFMT
    // BADAUTH BADCLNT.
    let rc = line_nums(&nfsd, "rc");
    assert_eq!(v(&mut a, "rpc.server.rchits"), rc[0]);
    assert_eq!(v(&mut a, "rpc.server.rcmisses"), rc[1]);
    assert_eq!(v(&mut a, "rpc.server.rcnocache"), rc[2]);
    assert_eq!(v(&mut a, "rpc.server.fh_stale"), line_nums(&nfsd, "fh")[0]);
    let io = line_nums(&nfsd, "io");
    assert_eq!(v(&mut a, "rpc.server.io_read"), io[0]);
    assert_eq!(v(&mut a, "rpc.server.io_write"), io[1]);
    assert_eq!(v(&mut a, "rpc.server.th_cnt"), line_nums(&nfsd, "th")[0]);
    let ra = line_nums(&nfsd, "ra");
    assert_eq!(v(&mut a, "rpc.server.ra_size"), ra[0]);
    assert_eq!(
        v(&mut a, "rpc.server.ra_hits"),
        ra[1..11].iter().sum::<u64>()
    );
    assert_eq!(v(&mut a, "rpc.server.ra_misses"), ra[11]);
    let net = line_nums(&nfsd, "net");
    assert_eq!(v(&mut a, "rpc.server.netcnt"), net[0]);
    assert_eq!(v(&mut a, "rpc.server.nettcpcnt"), net[2]);
    let rpc = line_nums(&nfsd, "rpc");
    assert_eq!(v(&mut a, "rpc.server.rpccnt"), rpc[0]);
    assert_eq!(v(&mut a, "rpc.server.rpcerr"), rpc[1]);
    assert_eq!(v(&mut a, "rpc.server.rpcbadclnt"), rpc[4]);
    // NFSv2 server: null is the first count.
    assert_eq!(
        u(&fetch(&mut a, "nfs.server.reqs").unwrap()["null"]),
        line_nums(&nfsd, "proc2")[1]
    );
    // NFSv4 server operations: op N is instance N+1; the first 71 summed.
    let ops = line_nums(&nfsd, "proc4ops");
    let reqs = fetch(&mut a, "nfs4.server.reqs").unwrap();
    assert_eq!(reqs.len(), 71);
    assert_eq!(u(&reqs["access"]), ops[1 + 3]);
    assert_eq!(u(&reqs["write"]), ops[1 + 38]);
    assert_eq!(u(&reqs["write_same"]), ops[1 + 70]);
    assert_eq!(ids(&mut a, "nfs4.server.reqs")["access"], 4);
    assert_eq!(
        v(&mut a, "nfs4.server.calls"),
        ops[1..72].iter().sum::<u64>()
    );

    // Thread pools: pool_threads, then the pools of pool_stats summed.
    let pools: Vec<Vec<u64>> = read(&root, "proc/fs/nfsd/pool_stats")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|w| w.parse().unwrap()).collect())
        .collect();
    let col = |c: usize| pools.iter().map(|p| p[c]).sum::<u64>();
    assert_eq!(v(&mut a, "nfs.server.threads.total"), 8);
    assert_eq!(v(&mut a, "nfs.server.threads.pools"), pools.len() as u64);
    assert_eq!(v(&mut a, "nfs.server.threads.requests"), col(1));
    assert_eq!(v(&mut a, "nfs.server.threads.enqueued"), col(2));
    assert_eq!(v(&mut a, "nfs.server.threads.processed"), col(3));
    assert_eq!(v(&mut a, "nfs.server.threads.timedout"), col(4));
}

#[test]
fn without_nfs_there_are_no_values_but_the_instances_exist() {
    // The captured host has neither NFS client nor server.
    let root = fixture("vm");
    assert!(!root.join("proc/net/rpc").exists());
    let mut a = agent(&root);
    for m in [
        "rpc.client.rpccnt",
        "rpc.server.rpccnt",
        "rpc.server.th_cnt",
        "nfs.client.calls",
        "nfs4.server.reqs",
        "nfs3.client.reqs",
        "nfs.server.threads.total",
    ] {
        assert!(fetch(&mut a, m).unwrap().is_empty(), "{m} has values");
    }
    // pmdalinux reports the read-ahead figures as zero regardless.
    assert_eq!(one(&mut a, "rpc.server.ra_size"), Value::U32(0));
    let n = ids(&mut a, "nfs4.server.reqs");
    assert_eq!(n.len(), 71);
    assert_eq!(n["op0-unused"], 1);
    assert_eq!(ids(&mut a, "nfs.client.reqs")["statfs"], 17);
}
