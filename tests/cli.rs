//! The pcp-agent binary: pminfo-like and pmval-like output, and one-line
//! errors with a non-zero exit for bad input.

use std::process::Command;

fn agent(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(args)
        .env(
            "PCP_AGENT_STATE_DIR",
            std::env::temp_dir().join(format!("pcp-agent-cli-{}", std::process::id())),
        )
        .output()
        .expect("run pcp-agent");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn info_prints_pminfo_layout_for_the_simple_agent() {
    let (rc, out, err) = agent(&[
        "--agents",
        "simple",
        "info",
        "-dfm",
        "simple.color",
        "simple.version",
    ]);
    assert_eq!(rc, 0, "{err}");
    let expected_head = "\nsimple.color PMID: 253.0.1\n    Data Type: 32-bit int  InDom: 253.0 0x3f400000\n    Semantics: instant  Units: none\n    inst [0 or \"red\"] value ";
    assert!(out.starts_with(expected_head), "{out}");
    assert!(out.contains("\nsimple.version PMID: 253.2.0\n    Data Type: string  InDom: PM_INDOM_NULL 0xffffffff\n    Semantics: discrete  Units: none\n    value \""), "{out}");
}

#[test]
fn info_without_names_lists_every_metric() {
    let (rc, out, _) = agent(&["--agents", "simple", "info"]);
    assert_eq!(rc, 0);
    // After the agents' names, the client's derived metrics that can be
    // computed here: only libpcp's two anonymous ones (pminfo lists them
    // too), as no operand of PCP's definitions is served by `simple`.
    assert_eq!(
        out,
        "simple.numfetch\nsimple.color\nsimple.time.user\nsimple.time.sys\nsimple.version\nevent.flags\nevent.missed\n"
    );
}

#[test]
fn bad_input_gives_one_line_errors_and_failure() {
    let (rc, out, err) = agent(&["--agents", "simple", "info", "no.such.metric"]);
    assert_ne!(rc, 0);
    assert_eq!(out, "");
    assert_eq!(err, "Error: no.such.metric: Unknown metric name\n");
    let (rc, _, err) = agent(&["--agents", "simple,nonesuch", "info"]);
    assert_ne!(rc, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown agent \"nonesuch\""), "{err}");
    let (rc, _, err) = agent(&["--agents", "simple", "watch", "-t", "-1", "simple.color"]);
    assert_ne!(rc, 0);
    assert!(!err.contains("panicked"), "{err}");
    let (rc, _, err) = agent(&["--agents", "simple", "watch", "-s", "1", "nope"]);
    assert_ne!(rc, 0);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn watch_shows_counters_as_rates() {
    let (rc, out, err) = agent(&[
        "--agents",
        "simple",
        "watch",
        "-t",
        "0.2",
        "-s",
        "3",
        "simple.color",
        "simple.time.user",
    ]);
    assert_eq!(rc, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // Names, instance names, units, then three samples.
    assert_eq!(lines.len(), 6, "{out}");
    assert!(
        lines[1].contains("red") && lines[1].contains("blue"),
        "{out}"
    );
    assert!(
        lines[2].trim_end().ends_with("s/s"),
        "a time counter in seconds is shown in seconds per second, as pmrep labels it: {out}"
    );
    // The first sample of a counter has no rate; later ones do.
    assert!(lines[3].trim_end().ends_with("N/A"), "{out}");
    assert!(!lines[4].contains("N/A"), "{out}");
}

#[test]
fn watch_json_is_one_object_per_sample() {
    let (rc, out, err) = agent(&[
        "--agents", "simple", "watch", "--json", "-t", "0.1", "-s", "2", "simple",
    ]);
    assert_eq!(rc, 0, "{err}");
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    assert_eq!(
        objs[1]["values"]["simple.color"]["green"],
        serde_json::json!(104.0)
    );
    assert!(objs[0]["values"]["simple.time.user"].is_null());
    assert!(objs[1]["values"]["simple.time.user"].is_number());
}

#[test]
fn install_dry_run_lists_changes_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pmcd.conf");
    let pmns = dir.path().join("pmns");
    std::fs::create_dir(&pmns).unwrap();
    std::fs::write(
        &conf,
        "pmcd\t2\tdso\tpmcd_init\t/var/lib/pcp/pmdas/pmcd/pmda_pmcd.so\n\n[access]\n",
    )
    .unwrap();
    std::fs::write(pmns.join("root"), "root {\n    pmcd\t2:*:*\n}\n").unwrap();
    let before = (
        std::fs::read(&conf).unwrap(),
        std::fs::read(pmns.join("root")).unwrap(),
    );
    let (rc, out, err) = agent(&[
        "--agents",
        "simple",
        "install",
        "simple",
        "--dry-run",
        "--pmcd-conf",
        conf.to_str().unwrap(),
        "--pmns-dir",
        pmns.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.lines().all(|l| l.starts_with("would: ")), "{out}");
    assert!(
        out.contains("simple\t253\tpipe\tbinary notready\t"),
        "{out}"
    );
    assert!(out.contains(" pmda simple --notready"), "{out}");
    assert!(out.contains("simple 253:*:*"), "{out}");
    assert_eq!(
        before,
        (
            std::fs::read(&conf).unwrap(),
            std::fs::read(pmns.join("root")).unwrap()
        )
    );
    // Another domain: the agent is moved there (its own label, -d).
    let paths = [
        "--pmcd-conf",
        conf.to_str().unwrap(),
        "--pmns-dir",
        pmns.to_str().unwrap(),
    ];
    let mut args = vec!["install", "simple", "--domain", "300", "--dry-run"];
    args.extend(paths);
    let (rc, out, err) = agent(&args);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("simple_300\t300\tpipe\t"), "{out}");
    assert!(out.contains(" pmda simple --notready -d 300"), "{out}");
    assert!(out.contains("simple 300:*:*"), "{out}");
    // A domain no agent may have is refused with one line.
    for bad in ["0", "511"] {
        let mut args = vec!["install", "simple", "--domain", bad, "--dry-run"];
        args.extend(paths);
        let (rc, _, err) = agent(&args);
        assert_ne!(rc, 0);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("1..=510"), "{err}");
    }
    assert_eq!(
        before,
        (
            std::fs::read(&conf).unwrap(),
            std::fs::read(pmns.join("root")).unwrap()
        )
    );
}

#[test]
fn agent_domain_moves_an_agent_in_the_host() {
    let (rc, out, err) = agent(&[
        "--agents",
        "simple",
        "--agent-domain",
        "simple=498",
        "info",
        "-md",
        "simple.numfetch",
        "simple.color",
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("simple.numfetch PMID: 498.0.0"), "{out}");
    assert!(out.contains("InDom: 498.0 "), "{out}");
    for bad in ["simple", "nosuch=400", "simple=x", "simple=0", "simple=511"] {
        let (rc, _, err) = agent(&["--agents", "simple", "--agent-domain", bad, "info"]);
        assert_ne!(rc, 0, "{bad}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
        assert!(err.contains("--agent-domain"), "{err}");
    }
}
