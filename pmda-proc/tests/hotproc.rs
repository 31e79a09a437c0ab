//! Hot processes: a predicate stored into `hotproc.control.config` selects
//! a process that burns CPU after two evaluations (the first has no rates
//! yet), its hotproc.* figures answer like its proc.* ones, and a bad
//! predicate or a store by anyone but root is refused without losing the
//! one in force.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pcp_core::{ClientContext, Host, PmError, Value, PM_IN_NULL};
use pmda_proc::{proc_pmda, ProcConfig};

struct Busy(Child);

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ProcConfig {
        hotproc_config: dir.path().join("none.conf"),
        ..Default::default()
    };
    let mut host = Host::new().with_client(ClientContext::user(0, 0));
    host.load(Box::new(proc_pmda(cfg).unwrap())).unwrap();
    host
}

fn one(host: &Host, name: &str) -> Vec<(u32, Value)> {
    let p = host.lookup(name).unwrap();
    host.fetch(&[p]).values[0].1.clone().unwrap_or_default()
}

#[test]
fn a_cpu_burning_process_becomes_hot() {
    let host = host();
    let busy = Busy(
        Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap(),
    );
    let pid = busy.0.id();
    // The agent names a process once, from its command line: wait until
    // the kernel shows it (spawn returns a moment before).
    let cmdline = format!("/proc/{pid}/cmdline");
    let shown = Instant::now() + Duration::from_secs(10);
    while !std::fs::read(&cmdline)
        .unwrap_or_default()
        .starts_with(b"sh\0-c\0")
    {
        assert!(Instant::now() < shown, "sh did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let store = |name: &str, v: Value| {
        let p = host.lookup(name).unwrap();
        host.store(p, &[(PM_IN_NULL, v)])
    };
    store("hotproc.control.refresh", Value::U32(1)).unwrap();
    store(
        "hotproc.control.config",
        Value::String(format!(
            "cpuburn > 0.3 && psargs ~ /while/ && uid == {}",
            unsafe { libc::getuid() }
        )),
    )
    .unwrap();
    assert_eq!(
        one(&host, "hotproc.control.config_gen"),
        vec![(PM_IN_NULL, Value::U32(1))]
    );
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let pids = one(&host, "hotproc.psinfo.pid");
        if pids.iter().any(|(i, _)| *i == pid) {
            break;
        }
        assert!(Instant::now() < end, "never hot: {pids:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let burn = one(&host, "hotproc.predicate.cpuburn");
    let mine = burn.iter().find(|(i, _)| *i == pid).unwrap();
    assert!(matches!(mine.1, Value::Float(f) if f > 0.3), "{mine:?}");
    let cmd = one(&host, "hotproc.psinfo.cmd");
    assert!(
        cmd.iter()
            .any(|(i, v)| *i == pid && *v == Value::String("sh".into())),
        "{cmd:?}"
    );
    let n = one(&host, "hotproc.nprocs");
    assert!(matches!(n[0].1, Value::U32(k) if k >= 1));
    let indom = host
        .desc(host.lookup("hotproc.psinfo.pid").unwrap())
        .unwrap()
        .indom;
    let insts = host.instances(indom).unwrap();
    assert!(
        insts
            .iter()
            .any(|i| i.id == pid && i.name.starts_with(&format!("{pid:06} sh"))),
        "{insts:?}"
    );

    // A bad predicate is refused; the old one stays.
    assert_eq!(
        store("hotproc.control.config", Value::String("cpuburn >".into())),
        Err(PmError::BADSTORE)
    );
    assert_eq!(
        one(&host, "hotproc.control.config_gen"),
        vec![(PM_IN_NULL, Value::U32(1))]
    );
    // Only root may set it.
    let p = host.lookup("hotproc.control.config").unwrap();
    assert_eq!(
        host.store_as(
            &ClientContext::user(1000, 1000),
            p,
            &[(PM_IN_NULL, Value::String("true".into()))]
        ),
        Err(PmError::PERMISSION)
    );
    drop(busy);
}

#[test]
fn the_top_level_names_registered_with_pmcd_are_the_agents() {
    use pcp_core::Pmda;
    let pmda = proc_pmda(ProcConfig::default()).unwrap();
    let mut names = pmda.namespace().top_level();
    names.sort();
    assert_eq!(names, pmda_proc::TOP_LEVEL);
}
