//! `testing::require` under each policy, seen from outside: this test
//! binary runs itself again (one test, output captured as `cargo test`
//! captures it) with the environment `./test.sh`, CI or a developer sets,
//! and checks that a missing system fails the test or is skipped where a
//! person and `./test.sh` see it.

use std::process::{Command, Output};

/// Set in the child: it then asks for a system that is never there.
const CHILD: &str = "PCP_AGENT_REQUIRE_POLICY_CHILD";

fn run_child(env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "missing_systems_fail_or_are_skipped_loudly"])
        .env(CHILD, "1")
        .env_remove("CI")
        .env_remove("PCP_AGENT_REQUIRE_SYSTEMS")
        .env_remove("PCP_AGENT_ALLOW_MISSING")
        .env_remove("PCP_AGENT_SKIP_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running the test binary again")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn missing_systems_fail_or_are_skipped_loudly() {
    if std::env::var_os(CHILD).is_some() {
        if !pcp_core::testing::require("frobnicator", false, "never installed anywhere") {
            return;
        }
        unreachable!("require said a missing system is there");
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skips");
    let log_s = log.to_str().unwrap();

    // ./test.sh's default: the test fails, with a one-line reason.
    let o = run_child(&[("PCP_AGENT_REQUIRE_SYSTEMS", "1")]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("frobnicator is required but missing: never installed anywhere"),
        "{}",
        text(&o)
    );
    // CI fails whatever else is set.
    let o = run_child(&[("CI", "true"), ("PCP_AGENT_ALLOW_MISSING", "1")]);
    assert!(!o.status.success(), "{}", text(&o));

    // ./test.sh --allow-missing: skipped, in the log and on stderr even
    // though the harness captured the passing test's output.
    let o = run_child(&[
        ("PCP_AGENT_REQUIRE_SYSTEMS", "1"),
        ("PCP_AGENT_ALLOW_MISSING", "1"),
        ("PCP_AGENT_SKIP_LOG", log_s),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let want = "SKIPPED missing_systems_fail_or_are_skipped_loudly: frobnicator missing: never installed anywhere";
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(want),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), format!("{want}\n"));

    // A plain cargo test skips too, and says so.
    let o = run_child(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(want));
}
