//! The kernel and filesys collectors: logins from utmp and tmpfs mounts.

use super::*;

#[test]
fn logins_from_utmp() {
    // A utmp file written through the C library's own record layout.
    fn rec(ty: i16, user: &str) -> Vec<u8> {
        // SAFETY: utmpx is plain old data; all-zero is a valid value.
        let mut u: libc::utmpx = unsafe { std::mem::zeroed() };
        u.ut_type = ty;
        for (d, s) in u.ut_user.iter_mut().zip(user.bytes()) {
            *d = s as libc::c_char;
        }
        let p = &u as *const libc::utmpx as *const u8;
        // SAFETY: reads the bytes of a live, initialised value.
        unsafe { std::slice::from_raw_parts(p, std::mem::size_of::<libc::utmpx>()) }.to_vec()
    }
    let dir = tempfile::tempdir().unwrap();
    let mut file = Vec::new();
    for (ty, user) in [
        (libc::BOOT_TIME, "reboot"),
        (libc::RUN_LVL, "runlevel"),
        (libc::LOGIN_PROCESS, "LOGIN"),
        (libc::USER_PROCESS, "root"),
        (libc::USER_PROCESS, "alice"),
        (libc::USER_PROCESS, "root"),
        (libc::USER_PROCESS, ""),
        (libc::DEAD_PROCESS, ""),
    ] {
        file.extend(rec(ty, user));
    }
    std::fs::create_dir_all(dir.path().join("var/run")).unwrap();
    std::fs::write(dir.path().join("var/run/utmp"), &file).unwrap();
    let mut a = agent(dir.path());
    assert_eq!(one(&mut a, "kernel.all.nusers"), Value::U32(3));
    assert_eq!(one(&mut a, "kernel.all.nroots"), Value::U32(2));
    // Every record but the nameless user process.
    assert_eq!(one(&mut a, "kernel.all.nsessions"), Value::U32(7));
    // No utmp at all: nobody logged in.
    let mut a = agent(&fixture("multi"));
    assert_eq!(one(&mut a, "kernel.all.nsessions"), Value::U32(0));
}

#[test]
fn tmpfs_filesystems() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let mut dirs: Vec<String> = Vec::new();
        for l in read(&root, "proc/self/mounts").lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w[2] == "tmpfs" && !dirs.iter().any(|d| d == w[1]) {
                dirs.push(w[1].to_string());
            }
        }
        assert!(!dirs.is_empty(), "{tree}");
        let statfs = read(&root, "statfs");
        let cap = fetch(&mut a, "tmpfs.capacity").unwrap();
        let used = fetch(&mut a, "tmpfs.used").unwrap();
        let free = fetch(&mut a, "tmpfs.free").unwrap();
        let maxfiles = fetch(&mut a, "tmpfs.maxfiles").unwrap();
        let usedfiles = fetch(&mut a, "tmpfs.usedfiles").unwrap();
        let freefiles = fetch(&mut a, "tmpfs.freefiles").unwrap();
        let full = fetch(&mut a, "tmpfs.full").unwrap();
        assert_eq!(cap.len(), dirs.len(), "{tree}");
        for d in &dirs {
            let f: Vec<u64> = statfs
                .lines()
                .find(|l| l.split_whitespace().next() == Some(d.as_str()))
                .unwrap()
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap())
                .collect();
            let (bsize, blocks, bfree, bavail, files, ffree) = (f[0], f[1], f[2], f[3], f[4], f[5]);
            assert_eq!(u(&cap[d]), blocks * bsize / 1024, "{tree} {d}");
            assert_eq!(u(&used[d]), (blocks - bfree) * bsize / 1024);
            assert_eq!(u(&free[d]), bfree * bsize / 1024);
            assert_eq!(u(&maxfiles[d]), files);
            assert_eq!(u(&usedfiles[d]), files - ffree);
            assert_eq!(u(&freefiles[d]), ffree);
            let pct = 100.0 * (blocks - bfree) as f64 / ((blocks - bfree) + bavail) as f64;
            assert!((full[d].as_f64().unwrap() - pct).abs() < 1e-9, "{tree} {d}");
        }
    }
}
