//! What each client may see and set: other users' private files (`io`,
//! `environ`, `fd`) only to root or their owner, decided by the kernel as
//! the agent reads as the client (the same set of processes pmdaproc
//! shows the same user through pmcd); anonymous clients refused
//! per-process figures; per-client controls (threads, a cgroup filter)
//! kept per client and dropped with it; process accounting turned on by
//! a store and showing exited processes.

mod support;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pcp_core::{ClientContext, Host, PmError, Profile, Value, PM_IN_NULL};
use pmda_proc::{proc_pmda, ProcConfig};
use support::*;

/// The user the test's other process runs as (Debian's `nobody`).
const NOBODY: u32 = 65534;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ProcConfig {
        hotproc_config: dir.path().join("none.conf"),
        // The kernel writes no accounting records on a file system with
        // less than 4% free; memory-backed /dev/shm has room.
        pacct_own: format!("/dev/shm/pcp-agent-test-pacct-{}", std::process::id()),
        ..Default::default()
    };
    let mut host = Host::new();
    host.load(Box::new(proc_pmda(cfg).unwrap())).unwrap();
    host
}

fn fetch(host: &Host, name: &str, client: &ClientContext) -> Result<Vec<(u32, Value)>, PmError> {
    let id = host.lookup(name).unwrap();
    host.fetch_as(client, &[id], &Profile::default()).values[0]
        .1
        .clone()
}

fn pids_with(host: &Host, name: &str, client: &ClientContext) -> BTreeSet<u32> {
    fetch(host, name, client)
        .unwrap_or_default()
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    pcp_core::testing::require(
        "root",
        unsafe { libc::geteuid() } == 0,
        "switching to clients' users needs root",
    )
}

/// A sleeping process of user `nobody` with a secret in its environment.
fn nobodys_sleep() -> Kill {
    Kill(
        Command::new("sleep")
            .arg("600")
            .env("PCP_AGENT_SECRET", "swordfish")
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn private_files_are_for_root_and_their_owner() {
    if !is_root() {
        return;
    }
    let host = host();
    let theirs = nobodys_sleep();
    let pid = theirs.0.id();
    // A process of root's other than this one (a process may always read
    // its own files, so the agent reading as nobody still may).
    let roots = Kill(Command::new("sleep").arg("600").spawn().unwrap());
    let me = roots.0.id();
    std::thread::sleep(Duration::from_millis(100));
    let root = ClientContext::user(0, 0);
    let nobody = ClientContext::user(NOBODY, NOBODY);
    let stranger = ClientContext::user(54321, 54321);

    // Everyone sees every process; private files per owner.
    for who in [&root, &nobody, &stranger] {
        let all = pids_with(&host, "proc.psinfo.pid", who);
        assert!(all.contains(&pid) && all.contains(&me), "{who:?}");
    }
    let io = |who| pids_with(&host, "proc.io.rchar", who);
    assert!(io(&root).contains(&pid) && io(&root).contains(&me));
    assert!(io(&nobody).contains(&pid) && !io(&nobody).contains(&me));
    assert!(!io(&stranger).contains(&pid) && !io(&stranger).contains(&me));
    let fds = |who| pids_with(&host, "proc.fd.count", who);
    assert!(fds(&nobody).contains(&pid) && !fds(&nobody).contains(&me));
    let environ = |who| -> String {
        fetch(&host, "proc.psinfo.environ", who)
            .unwrap_or_default()
            .into_iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    assert!(environ(&root).contains("swordfish"));
    assert!(environ(&nobody).contains("swordfish"));
    assert!(!environ(&stranger).contains("swordfish"));

    // No credentials (a TCP client of pmcd): no per-process figures.
    let anonymous = ClientContext::anonymous();
    assert_eq!(
        fetch(&host, "proc.psinfo.pid", &anonymous),
        Err(PmError::PERMISSION)
    );
    assert!(matches!(
        fetch(&host, "proc.nprocs", &anonymous).unwrap()[..],
        [(PM_IN_NULL, Value::U32(n))] if n > 1
    ));
}

#[test]
fn a_user_sees_the_private_files_pmdaproc_shows_that_user() {
    if !is_root() || !have_pmdaproc() {
        return;
    }
    let host = host();
    let theirs = nobodys_sleep();
    let nobodys = theirs.0.id();
    std::thread::sleep(Duration::from_millis(100));
    let pmdaproc = || -> BTreeSet<u32> {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["pminfo", "-h", &pmcd_host(), "-f", "proc.io.rchar"])
            .output()
            .unwrap();
        parse(&String::from_utf8_lossy(&out.stdout))
            .get("proc.io.rchar")
            .map(|s| s.values.keys().copied().collect())
            .unwrap_or_default()
    };
    let before = pmdaproc();
    let ours = pids_with(&host, "proc.io.rchar", &ClientContext::user(NOBODY, NOBODY));
    let after = pmdaproc();
    let alive = |p: &u32| std::path::Path::new(&format!("/proc/{p}")).exists();
    // Every process pmdaproc showed nobody in both reads (alive all
    // along), ours showed too.
    let steady: BTreeSet<u32> = before.intersection(&after).copied().collect();
    assert!(
        steady.contains(&nobodys),
        "pmdaproc shows nobody its own process: {steady:?}"
    );
    let missing: Vec<&u32> = steady.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "pmdaproc shows nobody these, ours not: {missing:?}"
    );
    // Every process ours showed that is still alive, pmdaproc showed in
    // the read after ours.
    let extra: Vec<&u32> = ours
        .iter()
        .filter(|p| alive(p) && !after.contains(p))
        .collect();
    assert!(
        extra.is_empty(),
        "ours shows nobody these, pmdaproc not: {extra:?}"
    );
}

#[test]
fn per_client_controls_stay_with_their_client() {
    if !is_root() {
        return;
    }
    let host = host();
    let a = ClientContext {
        slot: 7,
        ..ClientContext::user(0, 0)
    };
    let b = ClientContext {
        slot: 8,
        ..ClientContext::user(0, 0)
    };
    let store = |who: &ClientContext, name: &str, v: Value| {
        host.store_as(who, host.lookup(name).unwrap(), &[(PM_IN_NULL, v)])
    };
    let nprocs = |who| match fetch(&host, "proc.nprocs", who).unwrap()[..] {
        [(_, Value::U32(n))] => n,
        ref v => panic!("{v:?}"),
    };
    // Threads for client a only: this test process alone has several.
    store(&a, "proc.control.perclient.threads", Value::U32(1)).unwrap();
    let me = std::process::id();
    let tids = || -> BTreeSet<u32> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    };
    // Threads of this test process come and go (the harness runs tests
    // in threads): compare with those alive before and after each fetch.
    let before = tids();
    let a_pids = pids_with(&host, "proc.psinfo.pid", &a);
    let steady: BTreeSet<u32> = before.intersection(&tids()).copied().collect();
    assert!(steady.len() > 1, "{steady:?}");
    assert!(steady.is_subset(&a_pids), "{steady:?} {a_pids:?}");
    let before = tids();
    let b_pids = pids_with(&host, "proc.psinfo.pid", &b);
    let ours: BTreeSet<u32> = before.union(&tids()).copied().collect();
    let listed: Vec<&u32> = b_pids.intersection(&ours).collect();
    assert_eq!(listed, [&me], "client b lists threads");
    assert!(nprocs(&a) > nprocs(&b));
    assert_eq!(
        fetch(&host, "proc.control.perclient.threads", &a).unwrap(),
        vec![(PM_IN_NULL, Value::U32(1))]
    );
    assert_eq!(
        fetch(&host, "proc.control.perclient.threads", &b).unwrap(),
        vec![(PM_IN_NULL, Value::U32(0))]
    );

    // A cgroup filter for client b: the processes of this test's group.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let group = own
        .lines()
        .find_map(|l| {
            l.strip_prefix("0::")
                .or_else(|| l.split_once(":memory:").map(|x| x.1))
        })
        .unwrap()
        .to_string();
    store(
        &b,
        "proc.control.perclient.cgroups",
        Value::from(group.as_str()),
    )
    .unwrap();
    let inside = pids_with(&host, "proc.psinfo.pid", &b);
    assert!(inside.contains(&me), "{group}");
    for p in &inside {
        let cg = std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
        assert!(cg.contains(group.as_str()), "{p} is not in {group}: {cg}");
    }
    // A client that goes takes its settings with it.
    host.client_closed(7);
    assert_eq!(
        fetch(&host, "proc.control.perclient.threads", &a).unwrap(),
        vec![(PM_IN_NULL, Value::U32(0))]
    );
    // The setting for every client needs credentials.
    assert_eq!(
        store(
            &ClientContext::anonymous(),
            "proc.control.all.threads",
            Value::U32(1)
        ),
        Err(PmError::PERMISSION)
    );
}

#[test]
fn accounting_turned_on_by_a_store_shows_exited_processes() {
    if !is_root() {
        return;
    }
    let host = host();
    let root = ClientContext::user(0, 0);
    let store =
        |name: &str, v: Value| host.store_as(&root, host.lookup(name).unwrap(), &[(PM_IN_NULL, v)]);
    assert_eq!(
        host.store_as(
            &ClientContext::user(NOBODY, NOBODY),
            host.lookup("acct.control.enable_acct").unwrap(),
            &[(PM_IN_NULL, Value::U32(1))]
        ),
        Err(PmError::PERMISSION)
    );
    store("acct.control.enable_acct", Value::U32(1)).unwrap();
    // A first fetch opens the file; processes exiting after it are read.
    let _ = fetch(&host, "acct.psinfo.pid", &root);
    let mut exited = BTreeSet::new();
    for _ in 0..3 {
        let mut c = Command::new("true").spawn().unwrap();
        exited.insert(c.id());
        c.wait().unwrap();
    }
    let mut seen = BTreeSet::new();
    let found = wait_until(Duration::from_secs(10), || {
        seen = pids_with(&host, "acct.psinfo.pid", &root);
        exited.is_subset(&seen)
    });
    store("acct.control.enable_acct", Value::U32(0)).unwrap();
    assert!(found, "exited {exited:?}, accounting shows {seen:?}");
    // Instances are named by command, identified by pid.
    let indom = host
        .desc(host.lookup("acct.psinfo.pid").unwrap())
        .unwrap()
        .indom;
    let insts = host.instances_as(&root, indom).unwrap();
    assert!(exited
        .iter()
        .all(|p| insts.iter().any(|i| i.id == *p && i.name == "true")));
    // Anonymous clients see no exited processes.
    assert!(fetch(&host, "acct.psinfo.pid", &ClientContext::anonymous())
        .unwrap_or_default()
        .is_empty());
}

fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
