//! Where `pcp-agent`'s clients load derived metrics and presets from, as
//! a PCP client does: `--derived FILE` (bad lines reported, the rest
//! loaded), `$PCP_DERIVED_CONFIG` (a `:`-separated list; empty: none),
//! PCP's directories, and the built-in copy on a machine without them;
//! `watch -c FILE` for pmrep presets.

use std::process::Command;

fn agent(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcp-agent"));
    cmd.args(args).env(
        "PCP_AGENT_STATE_DIR",
        std::env::temp_dir().join(format!("pcp-agent-derived-cli-{}", std::process::id())),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pcp-agent");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(instance name, value)` pairs of one metric in `info -f` output.
fn values(out: &str, metric: &str) -> Vec<(String, f64)> {
    let mut lines = out
        .lines()
        .skip_while(|l| l.split(' ').next() != Some(metric))
        .skip(1);
    let mut found = Vec::new();
    for l in lines.by_ref() {
        let l = l.trim();
        if l.is_empty() {
            break;
        }
        if let Some(rest) = l.strip_prefix("inst [") {
            let name = rest.split('"').nth(1).unwrap_or("").to_string();
            let v = rest.rsplit("value ").next().unwrap_or("").trim();
            found.push((name, v.parse().unwrap_or(f64::NAN)));
        } else if let Some(v) = l.strip_prefix("value ") {
            found.push((String::new(), v.trim().parse().unwrap_or(f64::NAN)));
        }
    }
    found
}

const DEFINITIONS: &str = "\
# a comment, then good and bad lines: the bad ones are reported, the rest load
my.twice = 2 * simple.color
my.twice(oneline) = \"twice each colour\"
my.colours = count(simple.color)
no equals sign here
my.broken = simple.color +
";

#[test]
fn derived_file_loads_its_good_lines_and_reports_the_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.conf");
    std::fs::write(&file, DEFINITIONS).unwrap();
    let f = file.to_str().unwrap();
    let (rc, out, err) = agent(
        &[
            "--agents",
            "simple",
            "--derived",
            f,
            "info",
            "-f",
            "-t",
            "simple.color",
            "my.twice",
            "my.colours",
        ],
        &[],
    );
    assert_eq!(rc, 0, "{err}");
    // Each bad line once, with the file and line, in libpcp's words.
    assert!(
        err.contains(&format!(
            "[{f}:5] Error: pmLoadDerivedConfig: missing ``='' after derived metric name"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("[{f}:6]")), "{err}");
    assert_eq!(err.matches(&format!("[{f}:6]")).count(), 1, "{err}");
    // The good ones are served: help text, one value per colour.
    assert!(out.contains("my.twice [twice each colour]"), "{out}");
    let twice = values(&out, "my.twice");
    let names: Vec<&str> = twice.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["red", "green", "blue"], "{out}");
    for (n, v) in &twice {
        assert!(
            v.is_finite() && *v % 2.0 == 0.0,
            "{n}: {v} is not twice an integer\n{out}"
        );
    }
    let colours = values(&out, "my.colours");
    assert_eq!(colours, [(String::new(), 3.0)], "{out}");
    // A definition that failed is not a metric.
    let (rc, _, err) = agent(
        &["--agents", "simple", "--derived", f, "info", "my.broken"],
        &[],
    );
    assert_ne!(rc, 0);
    assert!(err.contains("my.broken: Unknown metric name"), "{err}");
}

#[test]
fn a_derived_file_that_cannot_be_read_is_one_error() {
    let (rc, out, err) = agent(
        &[
            "--agents",
            "simple",
            "--derived",
            "/nonexistent/derived.conf",
            "info",
        ],
        &[],
    );
    assert_ne!(rc, 0);
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--derived /nonexistent/derived.conf"), "{err}");
}

#[test]
fn pcp_derived_config_is_a_list_and_empty_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.conf");
    std::fs::write(&a, "my.a = simple.color + 1\n").unwrap();
    let sub = dir.path().join("more");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("b.conf"), "my.b = simple.color - 1\n").unwrap();
    let spec = format!("{}:{}", a.display(), sub.display());
    let (rc, out, err) = agent(
        &["--agents", "simple", "info", "-m", "my.a", "my.b"],
        &[("PCP_DERIVED_CONFIG", &spec)],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains("my.a PMID: 511.0.") && out.contains("my.b PMID: 511.0."),
        "{out}"
    );
    // From the list only: PCP's own definitions are not loaded with it.
    let (rc, out, _) = agent(
        &["--agents", "simple", "info"],
        &[("PCP_DERIVED_CONFIG", &spec)],
    );
    assert_eq!(rc, 0);
    assert!(out.contains("my.a\n") && out.contains("my.b\n"), "{out}");
    // Empty: no definitions at all (libpcp's two anonymous ones remain).
    let (rc, out, _) = agent(
        &["--agents", "simple", "info"],
        &[("PCP_DERIVED_CONFIG", "")],
    );
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        "simple.numfetch\nsimple.color\nsimple.time.user\nsimple.time.sys\nsimple.version\nevent.flags\nevent.missed\n"
    );
    // The linux agent's derived metrics follow the same switch.
    let (rc, _, err) = agent(
        &["--agents", "linux", "info", "-m", "kernel.cpu.util.user"],
        &[("PCP_DERIVED_CONFIG", "")],
    );
    assert_ne!(rc, 0);
    assert!(
        err.contains("kernel.cpu.util.user: Unknown metric name"),
        "{err}"
    );
    let (rc, out, err) = agent(
        &["--agents", "linux", "info", "-m", "kernel.cpu.util.user"],
        &[],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("kernel.cpu.util.user PMID: 511.0."), "{out}");
}

fn can_unshare_mounts() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// A machine without PCP: neither `$PCP_VAR_DIR/config/derived` nor
/// /etc/pcp/derived (/etc/pcp hidden by an empty tmpfs in a mount
/// namespace of the test's own): the built-in copy of PCP's definitions
/// serves, so `kernel.cpu.util.user` still resolves.
#[test]
fn without_pcps_directories_the_built_in_definitions_serve() {
    if !pcp_core::testing::require(
        "unshare -m (root)",
        can_unshare_mounts(),
        "a mount namespace hides /etc/pcp/derived",
    ) {
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let nowhere = empty.path().join("no-pcp-var-dir");
    let bin = env!("CARGO_BIN_EXE_pcp-agent");
    let state = empty.path().join("state");
    let script = format!(
        "if [ -d /etc/pcp ]; then mount -t tmpfs none /etc/pcp || exit 9; fi; \
         [ -e /etc/pcp/derived ] && exit 8; \
         exec {bin} --agents linux info -m kernel.cpu.util.user disk.dev.await",
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("PCP_VAR_DIR", &nowhere)
        .env("PCP_AGENT_STATE_DIR", &state)
        .env_remove("PCP_DERIVED_CONFIG")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("kernel.cpu.util.user PMID: 511.0.3\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("disk.dev.await PMID: 511.0.16\n"),
        "{stdout}"
    );
}

#[test]
fn watch_takes_presets_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mine.conf");
    std::fs::write(
        &conf,
        "[mine]\nheader = yes\nunitinfo = no\ntimestamp = no\n\
         simple.color = colour,,,,8\n\
         twice = doubled,,,,8\n\
         twice.formula = 2 * simple.color\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let (rc, out, err) = agent(
        &[
            "--agents", "simple", "watch", "-c", c, "-t", "0.2", "-s", "2", ":mine",
        ],
        &[],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("colour") && out.contains("doubled"), "{out}");
    assert!(out.contains("red") && out.contains("blue"), "{out}");
    // The last line is a sample: six numbers (three colours, two columns).
    let last = out.lines().last().unwrap_or("");
    let numbers: Vec<f64> = last
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 6, "{out}");
    // A preset the file does not have is an error naming it.
    let (rc, _, err) = agent(
        &[
            "--agents",
            "simple",
            "watch",
            "-c",
            c,
            "-s",
            "1",
            ":nonesuch",
        ],
        &[],
    );
    assert_ne!(rc, 0);
    assert!(err.contains("nonesuch"), "{err}");
}
