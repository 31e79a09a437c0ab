//! The control protocol (register, deregister, start, stop) with
//! pmdabpftrace's JSON results and authorisation rules, limits, and the
//! autostart permission rule, against real bpftrace.

mod common;

use common::*;
use pcp_core::{ClientContext, PmError, Pmda, Value};
use pmda_bpftrace::{BpftraceConfig, BpftraceError, BpftracePmda};

fn user(slot: u32, name: &str) -> ClientContext {
    ClientContext {
        slot,
        user_name: Some(name.into()),
        ..Default::default()
    }
}

#[test]
fn dynamic_scripts_are_off_by_default() {
    if !available() {
        return;
    }
    let mut a = agent("[bpftrace]\nprint_interval_ms = 200\n", &[]);
    assert_eq!(
        a.store("register", "BEGIN { @x = 1; }", &root(1)),
        Err(PmError::PERMISSION)
    );
    let r = a.result("register", &root(1));
    assert!(r["error"].as_str().unwrap().contains("disabled"), "{r}");
    assert_eq!(
        a.a.namespace().len(),
        7,
        "the reference's 7 metrics: 4 control + 3 info"
    );
}

#[test]
fn authorisation_rules() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    let code = "BEGIN { @x = 1; }";
    // Unauthenticated: no user name or id from pmcd.
    let anon = ClientContext {
        slot: 2,
        ..Default::default()
    };
    assert_eq!(a.store("register", code, &anon), Err(PmError::PERMISSION));
    assert_eq!(
        a.result("register", &anon)["error"],
        "permission denied for unauthenticated user"
    );
    assert_eq!(
        a.store("register", code, &user(3, "nobody")),
        Err(PmError::PERMISSION)
    );
    assert_eq!(
        a.result("register", &user(3, "nobody"))["error"],
        "permission denied for user nobody"
    );
    assert_eq!(
        a.store("deregister", "x", &user(3, "nobody")),
        Err(PmError::PERMISSION)
    );
    // uid 0 resolves to root, which is allowed.
    a.store("register", code, &root(4)).unwrap();
    assert_eq!(a.result("register", &root(4))["username"], "root");
    // Without auth, anyone may register; the user is then unknown.
    let mut b = agent(
        "[dynamic_scripts]\nenabled = true\nauth_enabled = false\n",
        &[],
    );
    b.store("register", code, &anon).unwrap();
    assert_eq!(
        b.result("register", &anon)["username"],
        serde_json::Value::Null
    );
}

#[test]
fn register_result_is_read_once_per_client() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.store(
        "register",
        "tracepoint:sched:sched_process_fork { @forks[comm] = count(); }",
        &root(5),
    )
    .unwrap();
    assert_eq!(
        a.result("register", &root(6)),
        serde_json::json!({}),
        "another client sees nothing"
    );
    let r = a.result("register", &root(5));
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "script_id",
        "username",
        "persistent",
        "created_at",
        "last_accessed_at",
        "code",
        "metadata",
        "variables",
        "state",
    ] {
        assert!(keys.contains(&k), "{k} missing from {r}");
    }
    assert!(r["script_id"].as_str().unwrap().starts_with('s'));
    assert_eq!(r["persistent"], false);
    assert_eq!(r["metadata"]["name"], serde_json::Value::Null);
    assert_eq!(r["metadata"]["custom_output_block"], false);
    assert_eq!(
        r["variables"]["@forks"],
        serde_json::json!({"single": false, "semantics": 1, "datatype": 3, "metrictype": null})
    );
    assert_eq!(r["state"]["status"], "starting");
    assert_eq!(r["state"]["pid"], -1);
    assert!(r.get("data").is_none() && r["state"].get("data").is_none());
    assert_eq!(
        a.result("register", &root(5)),
        serde_json::json!({}),
        "consumed by the first read"
    );
    // The raw text is Python's json.dumps layout.
    a.store("start", "nope", &root(5)).unwrap_err();
    let raw = a.fetch_as("bpftrace.control.start", &root(5)).unwrap();
    assert_eq!(
        raw[0].1,
        Value::String(r#"{"error": "script not found"}"#.into())
    );
    // Scripts are listed with their code; the JSON list has no data.
    let id = r["script_id"].as_str().unwrap().to_string();
    let p = a.pmid("bpftrace.info.scripts").unwrap();
    let indom = a.a.desc(p).unwrap().indom;
    let insts =
        a.a.instances(indom, &pcp_core::ClientContext::local())
            .unwrap();
    assert_eq!(insts.len(), 1);
    assert_eq!(insts[0].name, id);
    let all: serde_json::Value =
        serde_json::from_str(&a.string("bpftrace.info.scripts_json")).unwrap();
    assert_eq!(all[0]["script_id"].as_str(), Some(id.as_str()));
    a.a.client_closed(5);
}

#[test]
fn start_stop_deregister_lifecycle() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.register("// name: ctl\ninterval:ms:50 { @n = count(); }");
    a.wait_status("ctl", "started", 10);
    // Stop once bpftrace is up (a SIGINT while it is still attaching kills
    // it outright: exit code -2, which is reported as such).
    a.wait_until(10, "data", |a| {
        a.value("bpftrace.scripts.ctl.data.n").is_some()
    });
    let Some(Value::U32(pid1)) = a.value("bpftrace.scripts.ctl.pid") else {
        panic!()
    };
    a.store("stop", "ctl", &root(0)).unwrap();
    assert_eq!(
        a.result("stop", &root(0)),
        serde_json::json!({"success": "true"})
    );
    a.wait_status("ctl", "stopped", 10);
    assert_eq!(
        a.value("bpftrace.scripts.ctl.exit_code"),
        Some(Value::I32(0))
    );
    assert_eq!(
        a.value("bpftrace.scripts.ctl.pid"),
        None,
        "no process, no pid"
    );
    assert!(!alive(pid1 as i32));
    assert!(
        a.value("bpftrace.scripts.ctl.data.n").is_some(),
        "data kept after a stop"
    );
    // Stopping a stopped script is a no-op that succeeds.
    a.store("stop", "ctl", &root(0)).unwrap();
    a.store("start", "ctl", &root(0)).unwrap();
    assert_eq!(
        a.result("start", &root(0)),
        serde_json::json!({"success": "true"})
    );
    a.wait_status("ctl", "started", 10);
    let Some(Value::U32(pid2)) = a.value("bpftrace.scripts.ctl.pid") else {
        panic!()
    };
    assert_ne!(pid1, pid2);
    // Name taken: refused, with the script as JSON in error state.
    assert_eq!(
        a.store("register", "// name: ctl\nBEGIN { @y = 1; }", &root(0)),
        Err(PmError::BADSTORE)
    );
    let r = a.result("register", &root(0));
    assert_eq!(r["state"]["status"], "error");
    assert!(r["state"]["error"]
        .as_str()
        .unwrap()
        .contains("already in use"));
    // Deregister with an unknown name: the known one still goes.
    assert_eq!(
        a.store("deregister", "ctl,nope", &root(0)),
        Err(PmError::BADSTORE)
    );
    assert_eq!(
        a.result("deregister", &root(0)),
        serde_json::json!({"error": "one or more scripts were not found"})
    );
    assert!(a.pmid("bpftrace.scripts.ctl.status").is_none());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive(pid2 as i32) {
        assert!(
            std::time::Instant::now() < deadline,
            "deregistered bpftrace {pid2} still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    a.store("start", "ctl", &root(0)).unwrap_err();
    assert_eq!(
        a.result("start", &root(0)),
        serde_json::json!({"error": "script not found"})
    );
}

#[test]
fn limits_are_enforced_with_clear_errors() {
    if !available() {
        return;
    }
    let conf =
        format!("{CONF}[limits]\nmax_scripts_per_user = 1\nmax_code_size = 200\nmax_scripts = 2\n");
    let mut a = agent(&conf, &[]);
    a.store("register", "BEGIN { @a = 1; }", &root(0)).unwrap();
    assert_eq!(
        a.store("register", "BEGIN { @b = 1; }", &root(0)),
        Err(PmError::BADSTORE)
    );
    let r = a.result("register", &root(0));
    assert!(
        r["state"]["error"]
            .as_str()
            .unwrap()
            .contains("max_scripts_per_user"),
        "{r}"
    );
    let big = format!("BEGIN {{ @c = 1; }} // {}", "x".repeat(300));
    let mut b = agent(
        &format!("{conf}[dynamic_scripts]\nauth_enabled = false\n"),
        &[],
    );
    assert_eq!(b.store("register", &big, &root(0)), Err(PmError::BADSTORE));
    let r = b.result("register", &root(0));
    assert!(
        r["state"]["error"]
            .as_str()
            .unwrap()
            .contains("max_code_size"),
        "{r}"
    );
    b.store("register", "BEGIN { @a = 1; }", &user(0, "u1"))
        .unwrap();
    b.store("register", "BEGIN { @a = 1; }", &user(0, "u2"))
        .unwrap();
    assert_eq!(
        b.store("register", "BEGIN { @a = 1; }", &user(0, "u3")),
        Err(PmError::BADSTORE)
    );
    assert!(b.result("register", &root(0))["state"]["error"]
        .as_str()
        .unwrap()
        .contains("max_scripts"));
}

#[test]
fn bad_metadata_is_refused_like_the_reference() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    assert_eq!(
        a.store("register", "// name: 9x\nBEGIN { @a = 1; }", &root(0)),
        Err(PmError::BADSTORE)
    );
    let r = a.result("register", &root(0));
    assert!(
        r["state"]["error"]
            .as_str()
            .unwrap()
            .contains("invalid value '9x' for name"),
        "{r}"
    );
    assert_eq!(
        a.store(
            "register",
            "BEGIN { @output = 1; printf(\"x\"); }",
            &root(0)
        ),
        Err(PmError::BADSTORE)
    );
}

fn new_with_autostart(dir: &std::path::Path) -> Result<BpftracePmda, BpftraceError> {
    BpftracePmda::new(BpftraceConfig {
        autostart_dirs: vec![dir.to_path_buf()],
        ..Default::default()
    })
}

/// As pmdabpftrace: an autostart directory or script writable by anyone
/// but root is logged and skipped, and the agent serves on without it.
#[test]
fn autostart_permission_refusal() {
    if !available() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let d = root_only_dir(&[("ok.bt", "BEGIN { @a = 1; exit(); }")]);
    let skipped = |why: &str| {
        let a = new_with_autostart(d.path()).expect("the agent starts anyway");
        assert!(
            pmda_bpftrace::script_summary(&a).is_empty(),
            "{why}: nothing may start"
        );
        let s = a.autostart_skipped().join("\n");
        assert!(
            s.contains("must be exclusively writable by root"),
            "{why}: {s}"
        );
        s
    };
    // World-writable directory.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let s = skipped("world-writable directory");
    assert!(s.contains(&d.path().display().to_string()), "{s}");
    // Group-writable with a non-root group.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o775)).unwrap();
    std::os::unix::fs::chown(d.path(), None, Some(1)).unwrap();
    skipped("group-writable directory");
    std::os::unix::fs::chown(d.path(), None, Some(0)).unwrap();
    let a = new_with_autostart(d.path()).unwrap();
    assert!(a.autostart_skipped().is_empty(), "root:root 775 is fine");
    drop(a);
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A script owned (and writable) by another user.
    let f = d.path().join("ok.bt");
    std::os::unix::fs::chown(&f, Some(1000), None).unwrap();
    assert!(skipped("script of uid 1000").contains("owner uid 1000"));
    std::os::unix::fs::chown(&f, Some(0), None).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o646)).unwrap();
    skipped("world-writable script");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A directory that does not exist: logged, the agent starts.
    let gone = new_with_autostart(&d.path().join("missing")).unwrap();
    assert_eq!(gone.autostart_skipped().len(), 1);
    let mut a = Agent {
        a: new_with_autostart(d.path()).unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    a.wait_status("ok", "stopped", 10);
    assert_eq!(a.value("bpftrace.scripts.ok.data.a"), Some(Value::U64(1)));
}

#[test]
fn named_scripts_keep_their_pmids_across_restarts() {
    if !available() {
        return;
    }
    let scripts = root_only_dir(&[("keep.bt", "BEGIN { @b = 2; @a = count(); exit(); }")]);
    let state = tempfile::tempdir().unwrap();
    let config = || BpftraceConfig {
        autostart_dirs: vec![scripts.path().to_path_buf()],
        state_dir: Some(state.path().to_path_buf()),
        ..Default::default()
    };
    let pmids = |a: &mut Agent| {
        a.wait_until(10, "both maps", |a| {
            a.pmid("bpftrace.scripts.keep.data.a").is_some()
                && a.pmid("bpftrace.scripts.keep.data.b").is_some()
        });
        (
            a.pmid("bpftrace.scripts.keep.data.a").unwrap(),
            a.pmid("bpftrace.scripts.keep.data.b").unwrap(),
        )
    };
    let mut first = Agent {
        a: BpftracePmda::new(config()).unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    let ids = pmids(&mut first);
    // A second agent on the same state directory (locked): read-only ids.
    let mut second = Agent {
        a: BpftracePmda::new(config()).unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    assert_eq!(pmids(&mut second), ids);
    drop(second);
    drop(first);
    let mut again = Agent {
        a: BpftracePmda::new(config()).unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    assert_eq!(
        pmids(&mut again),
        ids,
        "same clusters and items after a restart"
    );
    assert_eq!(ids.0.cluster(), 100);
}
