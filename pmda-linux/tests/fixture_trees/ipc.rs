//! The ipc collector: System V IPC objects, totals and limits.

use super::*;

/// `ROOT/etc/passwd` user name of `uid`, or the number.
fn user_name(root: &Path, uid: &str) -> String {
    read(root, "etc/passwd")
        .lines()
        .find(|l| l.split(':').nth(2) == Some(uid))
        .map_or(uid.to_string(), |l| {
            l.split(':').next().unwrap().to_string()
        })
}

/// An IPC key column as pmdalinux shows it.
fn key_hex(key: &str) -> String {
    let k: i64 = key.parse().unwrap();
    format!("0x{:08x}", if k < 0 { k + (1 << 32) } else { k })
}

#[test]
fn sysv_ipc_objects_and_totals() {
    let page = unsigned_pagesize() as u64;
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let rows = |file: &str| -> Vec<Vec<String>> {
            read(&root, file)
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .collect()
        };
        let get = |a: &mut LinuxPmda, m: &str| fetch(a, m).unwrap();
        let str_of = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        // Shared memory segments.
        let shm = rows("proc/sysvipc/shm");
        assert!(!shm.is_empty(), "{tree}");
        let (key, owner, perms, segsz, nattch, status, cpid, lpid) = (
            get(&mut a, "ipc.shm.key"),
            get(&mut a, "ipc.shm.owner"),
            get(&mut a, "ipc.shm.perms"),
            get(&mut a, "ipc.shm.segsz"),
            get(&mut a, "ipc.shm.nattch"),
            get(&mut a, "ipc.shm.status"),
            get(&mut a, "ipc.shm.creator_pid"),
            get(&mut a, "ipc.shm.last_access_pid"),
        );
        assert_eq!(key.len(), shm.len());
        let (mut pages, mut rss, mut swap) = (0, 0, 0);
        for r in &shm {
            let id = &r[1];
            assert_eq!(str_of(&key[id]), key_hex(&r[0]), "{tree} {id}");
            assert_eq!(str_of(&owner[id]), user_name(&root, &r[7]));
            let p = &r[2];
            assert_eq!(u(&perms[id]), p[p.len() - 3..].parse::<u64>().unwrap());
            let want = match (p.len() == 4).then(|| &p[..1]) {
                Some("3") => "dest locked",
                Some("2") => "locked",
                Some("1") => "dest",
                _ => "",
            };
            assert_eq!(str_of(&status[id]), want, "{tree} {id}");
            let size: u64 = r[3].parse().unwrap();
            assert_eq!(u(&segsz[id]), size);
            assert_eq!(u(&cpid[id]), r[4].parse::<u64>().unwrap());
            assert_eq!(u(&lpid[id]), r[5].parse::<u64>().unwrap());
            assert_eq!(u(&nattch[id]), r[6].parse::<u64>().unwrap());
            pages += size.div_ceil(page);
            rss += r[14].parse::<u64>().unwrap();
            swap += r[15].parse::<u64>().unwrap();
        }
        assert_eq!(u(&one(&mut a, "ipc.shm.tot")), pages * page);
        assert_eq!(u(&one(&mut a, "ipc.shm.rss")), rss);
        assert_eq!(u(&one(&mut a, "ipc.shm.swp")), swap);
        assert_eq!(u(&one(&mut a, "ipc.shm.used_ids")), shm.len() as u64);
        assert_eq!(u(&one(&mut a, "ipc.shm.swap_attempts")), 0);
        // Message queues.
        let msg = rows("proc/sysvipc/msg");
        let (mkey, mowner, msz, mnum, mls, mlr) = (
            get(&mut a, "ipc.msg.key"),
            get(&mut a, "ipc.msg.owner"),
            get(&mut a, "ipc.msg.msgsz"),
            get(&mut a, "ipc.msg.messages"),
            get(&mut a, "ipc.msg.last_send_pid"),
            get(&mut a, "ipc.msg.last_recv_pid"),
        );
        assert_eq!(mkey.len(), msg.len());
        let (mut bytes, mut count) = (0, 0);
        for r in &msg {
            let id = &r[1];
            assert_eq!(str_of(&mkey[id]), key_hex(&r[0]));
            assert_eq!(str_of(&mowner[id]), user_name(&root, &r[7]));
            assert_eq!(u(&msz[id]), r[3].parse::<u64>().unwrap());
            assert_eq!(u(&mnum[id]), r[4].parse::<u64>().unwrap());
            assert_eq!(u(&mls[id]), r[5].parse::<u64>().unwrap());
            assert_eq!(u(&mlr[id]), r[6].parse::<u64>().unwrap());
            bytes += r[3].parse::<u64>().unwrap();
            count += r[4].parse::<u64>().unwrap();
        }
        assert_eq!(u(&one(&mut a, "ipc.msg.used_queues")), msg.len() as u64);
        assert_eq!(u(&one(&mut a, "ipc.msg.tot_msg")), count);
        assert_eq!(u(&one(&mut a, "ipc.msg.tot_bytes")), bytes);
        // Semaphore arrays.
        let sem = rows("proc/sysvipc/sem");
        let (skey, sowner, sperms, nsems) = (
            get(&mut a, "ipc.sem.key"),
            get(&mut a, "ipc.sem.owner"),
            get(&mut a, "ipc.sem.perms"),
            get(&mut a, "ipc.sem.nsems"),
        );
        assert_eq!(skey.len(), sem.len());
        let mut total = 0;
        for r in &sem {
            let id = &r[1];
            assert_eq!(str_of(&skey[id]), key_hex(&r[0]));
            assert_eq!(str_of(&sowner[id]), user_name(&root, &r[4]));
            assert_eq!(u(&sperms[id]), r[2].parse::<u64>().unwrap() % 1000);
            assert_eq!(u(&nsems[id]), r[3].parse::<u64>().unwrap());
            total += r[3].parse::<u64>().unwrap();
        }
        assert_eq!(u(&one(&mut a, "ipc.sem.used_sem")), sem.len() as u64);
        assert_eq!(u(&one(&mut a, "ipc.sem.tot_sem")), total);
        // Instance ids in file order (no saved cache in the trees).
        let ids = ids(&mut a, "ipc.shm.key");
        for (i, r) in shm.iter().enumerate() {
            assert_eq!(ids[&r[1]], i as u32);
        }
    }
    let multi = fixture("multi");
    let owners = fetch(&mut agent(&multi), "ipc.shm.owner").unwrap();
    assert_eq!(owners["33"], Value::String("4321".into()));
    assert_eq!(owners["32"], Value::String("root".into()));
}

#[test]
fn sysv_ipc_limits() {
    let root = fixture("vm");
    let mut a = agent(&root);
    let num = |f: &str| {
        read(&root, &format!("proc/sys/kernel/{f}"))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let sem: Vec<u64> = read(&root, "proc/sys/kernel/sem")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    for (metric, want) in [
        // 32-bit metrics: SHMMAX and SHMALL keep their low 32 bits.
        ("ipc.shm.max_segsz", num("shmmax") % (1 << 32)),
        ("ipc.shm.max_shmsys", num("shmall") % (1 << 32)),
        ("ipc.shm.max_seg", num("shmmni")),
        ("ipc.shm.max_segproc", num("shmmni")),
        ("ipc.shm.min_segsz", 1),
        ("ipc.msg.max_msgsz", num("msgmax")),
        ("ipc.msg.max_defmsgq", num("msgmnb")),
        ("ipc.msg.max_msgqid", num("msgmni")),
        ("ipc.msg.sz_pool", 512_000),
        ("ipc.msg.mapent", 16384),
        ("ipc.msg.max_msgseg", 16),
        ("ipc.msg.num_smsghdr", 16384),
        ("ipc.msg.max_seg", 65535),
        ("ipc.sem.max_perid", sem[0]),
        ("ipc.sem.max_sem", sem[1]),
        ("ipc.sem.max_ops", sem[2]),
        ("ipc.sem.max_semid", sem[3]),
        ("ipc.sem.max_semmap", 1_024_000_000),
        ("ipc.sem.num_undo", 1_024_000_000),
        ("ipc.sem.max_undoent", 500),
        ("ipc.sem.sz_semundo", 20),
        ("ipc.sem.max_semval", 32767),
        ("ipc.sem.max_exit", 32767),
    ] {
        assert_eq!(u(&one(&mut a, metric)), want, "{metric}");
    }
}

#[test]
fn missing_or_bad_ipc_tables_fail_only_their_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/sysvipc")).unwrap();
    std::fs::write(root.join("proc/meminfo"), "MemTotal: 100 kB\n").unwrap();
    std::fs::write(
        root.join("proc/sysvipc/sem"),
        "       key      semid perms      nsems   uid\n         0          1   6x0          3     0\n",
    )
    .unwrap();
    let mut a = agent(root);
    let enoent = Err(PmError::from_errno(libc::ENOENT));
    assert_eq!(fetch(&mut a, "ipc.shm.used_ids").map(|v| v.len()), enoent);
    // No message queue table: no queues (no values), but the totals
    // computed from it fail.
    assert_eq!(fetch(&mut a, "ipc.msg.key").map(|v| v.len()), Ok(0));
    assert_eq!(
        fetch(&mut a, "ipc.msg.used_queues").map(|v| v.len()),
        enoent
    );
    assert_eq!(fetch(&mut a, "ipc.shm.max_segsz").map(|v| v.len()), enoent);
    assert_eq!(fetch(&mut a, "ipc.sem.nsems"), Err(PmError::VALUE));
    assert!(a
        .agent()
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/sysvipc/sem")));
    assert_eq!(u(&one(&mut a, "mem.physmem")), 100);
    assert_eq!(u(&one(&mut a, "ipc.sem.max_semval")), 32767);
}
