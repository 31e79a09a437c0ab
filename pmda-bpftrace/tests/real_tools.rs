//! bpftrace's own tools that use tracepoints (syscount.bt, pidpersec.bt,
//! naptime.bt), loaded through an autostart directory: their maps become
//! metrics whose instances are what bpftrace itself prints.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use pcp_core::{Pmda, Value};

/// Where the Debian/Ubuntu package puts the tools (`dpkg -L bpftrace`).
fn tool(name: &str) -> Option<String> {
    ["/usr/sbin", "/usr/share/bpftrace/tools"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .and_then(|p| std::fs::read_to_string(p).ok())
}

/// Runs `code` under bpftrace directly for `secs`, then SIGINT; returns the
/// keys bpftrace printed for each map.
fn bpftrace_keys(code: &str, secs: f64) -> BTreeMap<String, BTreeSet<String>> {
    let mut child = Command::new("bpftrace")
        .args(["-f", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(code.as_bytes())
        .unwrap();
    let pid = child.id() as i32;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(secs));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGINT) };
    });
    let out = child.wait_with_output().unwrap();
    killer.join().unwrap();
    let mut maps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Ok(Some(pmda_bpftrace::event::Event::Maps(ms))) =
            pmda_bpftrace::event::parse_line(line.as_bytes())
        {
            for (name, data) in ms {
                let e = maps.entry(name).or_default();
                if let pmda_bpftrace::event::MapData::Keyed(kv) = data {
                    e.extend(kv.into_iter().map(|(k, _)| k.into_owned()));
                }
            }
        }
    }
    maps
}

fn nanosleep(ms: u64) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: (ms * 1_000_000) as libc::c_long,
    };
    // SAFETY: a plain nanosleep(2) syscall (glibc's nanosleep() would use
    // clock_nanosleep, which naptime.bt does not trace).
    unsafe {
        libc::syscall(
            libc::SYS_nanosleep,
            &ts,
            std::ptr::null_mut::<libc::timespec>(),
        )
    };
}

#[test]
fn tracepoint_tools_through_autostart() {
    if !available() {
        return;
    }
    let (Some(syscount), Some(pidpersec), Some(naptime)) = (
        tool("syscount.bt"),
        tool("pidpersec.bt"),
        tool("naptime.bt"),
    ) else {
        // A skip when allowed, else a failure with the reason (it passed
        // silently outside CI).
        let have = pcp_core::testing::require(
            "bpftrace tools",
            false,
            "syscount.bt, pidpersec.bt and naptime.bt (Debian's bpftrace package) are not installed",
        );
        assert!(!have);
        return;
    };
    let dir = root_only_dir(&[
        ("syscount.bt", &syscount),
        ("pidpersec.bt", &pidpersec),
        ("naptime.bt", &naptime),
    ]);
    let mut a = agent("[bpftrace]\nprint_interval_ms = 300\n", &[path(&dir)]);
    a.a.wait_ready(Duration::from_secs(15));
    for s in ["syscount", "pidpersec", "naptime"] {
        assert_eq!(
            a.status(s),
            "started",
            "{s}: {}",
            a.string(&format!("bpftrace.scripts.{s}.error"))
        );
    }
    // Activity for each tool: forks and plain nanosleep calls.
    // bpftrace itself, on the same tool, printing whole maps (the tool's
    // END block prints only the top 10).
    let reference = std::thread::spawn(|| {
        let code = format!(
            "{}\ninterval:ms:500 {{ print(@syscall); print(@process); }}",
            tool("syscount.bt").unwrap()
        );
        bpftrace_keys(&code, 1.5)
    });
    for _ in 0..5 {
        Command::new("true").status().unwrap();
        nanosleep(20);
    }
    nanosleep(123);
    a.wait_until(10, "tool data", |a| {
        a.fetch("bpftrace.scripts.syscount.data.process")
            .is_ok_and(|v| !v.is_empty())
            && a.value("bpftrace.scripts.naptime.data.output")
                .is_some_and(|v| matches!(v, Value::String(s) if s.contains("0.123")))
            && a.pmid("bpftrace.scripts.pidpersec.data.root").is_some()
    });
    // syscount: @syscall[args->id] and @process[comm] counters, keys as
    // bpftrace renders them.
    let reference = reference.join().unwrap();
    assert!(
        reference.contains_key("@syscall") && reference.contains_key("@process"),
        "{reference:?}"
    );
    let ours: BTreeSet<String> = a
        .instances("bpftrace.scripts.syscount.data.process")
        .into_iter()
        .map(|x| x.0)
        .collect();
    let theirs = &reference["@process"];
    assert!(ours.contains("bpftrace"), "ours: {ours:?}");
    assert!(theirs.contains("bpftrace"), "bpftrace's: {theirs:?}");
    let sys: BTreeSet<String> = a
        .instances("bpftrace.scripts.syscount.data.syscall")
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert!(
        sys.iter().all(|k| k.parse::<u32>().is_ok()),
        "syscall ids as numbers: {sys:?}"
    );
    assert!(
        !sys.is_disjoint(&reference["@syscall"]),
        "{sys:?} / {:?}",
        reference["@syscall"]
    );
    let p = a.pmid("bpftrace.scripts.syscount.data.syscall").unwrap();
    assert_eq!(a.a.desc(p).unwrap().sem, pcp_core::Semantics::Counter);
    // pidpersec: the anonymous map `@` is `root`; its time() output is text.
    let out = a.string("bpftrace.scripts.pidpersec.data.output");
    assert!(out.contains("PIDs/sec"), "{out}");
    // naptime: printf lines, our 123 ms nanosleep among them.
    let out = a.string("bpftrace.scripts.naptime.data.output");
    assert!(out.starts_with("Tracing sleeps."), "{out}");
    assert!(out.lines().any(|l| l.ends_with(" 0.123")), "{out}");
    // Autostart scripts are named (persistent) and run as this user.
    let all: serde_json::Value =
        serde_json::from_str(&a.string("bpftrace.info.scripts_json")).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["persistent"] == true && s["username"] == "root"));
}
