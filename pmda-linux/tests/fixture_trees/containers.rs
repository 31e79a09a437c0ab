//! A client's container on a fixture tree: its group found under the
//! tree's control-group mount, its namespaced files read through its
//! process (`proc/PID/net/*`, `proc/PID/mounts`, and below
//! `proc/PID/root/` the sysfs, `statfs`, `ifaddrs` and host name files a
//! fixture stands in for system calls with).

use super::*;

/// A host with eth0 and lo, and container `web` whose one process (4242)
/// sees lo only, an overlay root and a tmpfs at /run.
fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = t.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let dev_head = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";
    w(
        "proc/self/mounts",
        "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n/dev/sda1 / ext4 rw 0 0\n",
    );
    w("statfs", "/ 4096 1000 400 300 10 4 0\n");
    w("proc/sys/kernel/hostname", "host\n");
    w(
        "proc/net/dev",
        &format!("{dev_head}    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 900 9 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n"),
    );
    w("sys/fs/cgroup/machine.slice/web/cgroup.procs", "4242\n");
    w("sys/fs/cgroup/empty/cgroup.procs", "");
    w(
        "proc/4242/net/dev",
        &format!("{dev_head}    lo: 7 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"),
    );
    w(
        "proc/4242/mounts",
        "overlay / overlay rw 0 0\ntmpfs /run tmpfs rw 0 0\nproc /proc proc rw 0 0\n",
    );
    w(
        "proc/4242/root/statfs",
        "/ 4096 2000 1000 900 10 4 0\n/run 4096 256 256 256 100 99 0\n",
    );
    w("proc/4242/root/proc/sys/kernel/hostname", "web\n");
    w("proc/4242/root/sys/class/net/lo/mtu", "65536\n");
    w(
        "proc/4242/root/sys/class/net/lo/address",
        "00:00:00:00:00:00\n",
    );
    w("proc/4242/root/ifaddrs", "lo 127.0.0.1\n");
    t
}

fn in_container(name: &str) -> ClientContext {
    ClientContext {
        container: Some(name.to_string()),
        ..ClientContext::user(0, 0)
    }
}

/// Instance name -> value of `metric` for `client`, the names as that
/// client's instance list gives them.
fn seen(
    a: &mut LinuxPmda,
    metric: &str,
    client: &ClientContext,
) -> Result<BTreeMap<String, Value>, PmError> {
    let pmid = a.namespace().lookup(metric).unwrap();
    let profile = Profile::all();
    let req = FetchRequest {
        pmids: &[pmid],
        profile: &profile,
        client,
    };
    let vals = a.fetch(&req).remove(0)?;
    let indom = a.desc(pmid).unwrap().indom;
    let names = if indom.is_null() {
        Vec::new()
    } else {
        a.instances(indom, client)?
    };
    Ok(vals
        .into_iter()
        .map(|(id, v)| {
            let n = names.iter().find(|i| i.id == id).map(|i| i.name.clone());
            (n.unwrap_or_default(), v)
        })
        .collect())
}

#[test]
fn a_container_is_answered_from_its_process_files() {
    let t = tree();
    let mut a = agent(t.path());
    let web = in_container("web");
    let host = ClientContext::user(0, 0);

    let bytes = seen(&mut a, "network.interface.in.bytes", &web).unwrap();
    assert_eq!(bytes, [("lo".to_string(), Value::U64(7))].into());
    let bytes = seen(&mut a, "network.interface.in.bytes", &host).unwrap();
    assert_eq!(bytes.len(), 2, "{bytes:?}");
    let mtu = seen(&mut a, "network.interface.mtu", &web).unwrap();
    assert_eq!(mtu, [("lo".to_string(), Value::U32(65536))].into());
    let inet = seen(&mut a, "network.interface.inet_addr", &web).unwrap();
    assert_eq!(inet, [("lo".to_string(), Value::from("127.0.0.1"))].into());

    let node = |c| seen(&mut agent(t.path()), "kernel.uname.nodename", c).unwrap();
    assert_eq!(node(&web)[""], Value::from("web"));
    assert_eq!(node(&host)[""], Value::from("host"));

    // The container's mounts, and statfs figures through its root.
    let dirs = seen(&mut a, "filesys.mountdir", &web).unwrap();
    assert_eq!(dirs, [("overlay".to_string(), Value::from("/"))].into());
    let cap = seen(&mut a, "filesys.capacity", &web).unwrap();
    assert_eq!(cap["overlay"], Value::U64(8000));
    let run = seen(&mut a, "tmpfs.capacity", &web).unwrap();
    assert_eq!(run, [("/run".to_string(), Value::U64(1024))].into());
    let cap = seen(&mut a, "filesys.capacity", &host).unwrap();
    assert_eq!(cap, [("/dev/sda1".to_string(), Value::U64(4000))].into());
}

#[test]
fn unknown_and_empty_containers_are_refused() {
    let t = tree();
    let mut a = agent(t.path());
    for name in ["db", "empty"] {
        let c = in_container(name);
        for metric in ["network.interface.in.bytes", "kernel.uname.nodename"] {
            assert_eq!(
                seen(&mut a, metric, &c),
                Err(PmError::NOCONTAINER),
                "{name} {metric}"
            );
        }
    }
}
