//! Tests of the fetchers: scripts' output, failures, timeouts and users.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

fn collect(out: &mut Vec<u8>) -> impl FnMut(&[u8]) -> bool + '_ {
    |b: &[u8]| {
        out.extend_from_slice(b);
        true
    }
}

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn good_script_output_and_stderr() {
    let d = tempfile::tempdir().unwrap();
    let p = script(
        d.path(),
        "ok.sh",
        "#!/bin/sh\necho 'm 1'\necho 'warn: x' >&2\necho 'n 2'\n",
    );
    let logged = Mutex::new(Vec::new());
    let mut body = Vec::new();
    run_script(
        &p,
        None,
        Duration::from_secs(5),
        &mut collect(&mut body),
        &|l| logged.lock().unwrap().push(l.to_string()),
    )
    .unwrap();
    assert_eq!(body, b"m 1\nn 2\n");
    assert_eq!(*logged.lock().unwrap(), ["warn: x"]);
}

#[test]
fn failing_script_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let p = script(d.path(), "bad.sh", "#!/bin/sh\necho 'm 1'\nexit 3\n");
    let mut body = Vec::new();
    let e = run_script(
        &p,
        None,
        Duration::from_secs(5),
        &mut collect(&mut body),
        &|_| {},
    )
    .unwrap_err();
    assert_eq!(e.0.to_string(), "script exited with exit status 3");
}

#[test]
fn hanging_script_group_is_killed() {
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("child.pid");
    let p = script(
        d.path(),
        "hang.sh",
        &format!(
            "#!/bin/sh\nsleep 30 &\necho $! > {}\necho 'm 1'\nsleep 30\n",
            marker.display()
        ),
    );
    let t = Instant::now();
    let mut body = Vec::new();
    let e = run_script(
        &p,
        None,
        Duration::from_millis(300),
        &mut collect(&mut body),
        &|_| {},
    )
    .unwrap_err();
    assert!(matches!(e.0, PrometheusError::ScriptTimeout(_)));
    assert!(t.elapsed() < Duration::from_secs(3));
    // The background grandchild was in the group and is gone too.
    let pid: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z ") {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(gone, "grandchild {pid} survived");
}

#[test]
fn output_past_what_the_sink_wants_is_drained() {
    let d = tempfile::tempdir().unwrap();
    let p = script(d.path(), "big.sh", "#!/bin/sh\nhead -c 1000000 /dev/zero\n");
    let mut got = 0;
    let mut calls = 0;
    run_script(
        &p,
        None,
        Duration::from_secs(5),
        &mut |b: &[u8]| {
            got += b.len();
            calls += 1;
            false
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(calls, 1, "no more pieces once the sink said stop");
    assert!(got <= READ_CHUNK);
}

#[test]
fn not_executable_fails_to_start() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("plain.sh");
    std::fs::write(&p, "#!/bin/sh\necho hi\n").unwrap();
    let e = run_script(
        &p,
        None,
        Duration::from_secs(1),
        &mut |_: &[u8]| true,
        &|_| {},
    )
    .unwrap_err();
    assert!(e.0.to_string().starts_with("cannot execute"), "{}", e.0);
}

#[test]
fn users_resolve() {
    assert_eq!(RunAs::lookup("root").unwrap().uid, 0);
    assert!(RunAs::lookup("no-such-user-xyz").is_err());
}
