//! The examples run and do what their documentation says:
//! `examples/simple_pmda.rs` (a table-driven agent in the host: its
//! metrics, a stored value, instances) and `examples/custom_collector.rs`
//! (JSON lines of rates from the linux agent, and its own derived metric
//! defined in code).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The example binary `name` of this package, built if needed.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let bin = profile_dir.join("examples").join(name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Always through cargo: a binary left from an older build is rebuilt.
    // Without the variables cargo sets for this test (CARGO_PKG_*, ...):
    // build scripts that watch them would rebuild everything, twice.
    let mut cmd = Command::new(cargo);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR")
            || k.starts_with("RUST_TEST")
            || k == "OUT_DIR"
        {
            cmd.env_remove(&*k);
        }
    }
    let status = cmd
        .args(["build", "-q", "-p", "pcp-agent", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo to build the example");
    assert!(status.success(), "building example {name} failed");
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

/// Runs `bin ARGS` with a private state directory, killed after `limit`.
fn run(bin: &Path, args: &[&str], limit: Duration) -> Output {
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args(args)
        .env("PCP_AGENT_STATE_DIR", state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting the example");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("waiting").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} did not finish within {limit:?}", bin.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("collecting output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn simple_pmda_example_prints_its_agent() {
    let out = run(&example("simple_pmda"), &[], Duration::from_secs(60));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    // The stored threshold, both planets, the counter: the whole agent,
    // with its PMIDs at the domain main() gives it.
    for want in [
        "demo.threshold PMID: 499.0.0 [a storable setting]",
        "    value 42",
        "demo.gravity PMID: 499.0.1 [surface gravity, in g]",
        "inst [0 or \"earth\"] value 1",
        "inst [1 or \"mars\"] value 0.38",
        "demo.fetches PMID: 499.0.2 [fetches]",
        "Semantics: counter",
    ] {
        assert!(stdout.contains(want), "{want:?} not in\n{stdout}");
    }
}

/// The linux agent's counter and gauge, and the derived metric defined in
/// the example's code, as the collector's defaults.
#[test]
fn custom_collector_example_prints_json_rates() {
    let linux = Path::new("/proc/stat").exists() && Path::new("/proc/loadavg").exists();
    if !pcp_core::testing::require("/proc", linux, "the linux agent reads /proc") {
        return;
    }
    let out = run(
        &example("custom_collector"),
        &["0.3", "3"],
        Duration::from_secs(60),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    // It fell back to the simple agent, which it says on stderr.
    assert!(
        !stderr.contains("using the simple agent"),
        "the linux agent did not load:\n{stderr}"
    );
    let ncpu = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as f64;
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "one line per sample:\n{stdout}");
    let mut last = 0.0;
    for l in &lines {
        let ts = l["timestamp"].as_f64().expect("a timestamp");
        assert!(ts > last, "timestamps go forward: {stdout}");
        if last > 0.0 {
            assert!((0.2..5.0).contains(&(ts - last)), "interval {}", ts - last);
        }
        last = ts;
        let rates = &l["rates"];
        // The gauge as it is, one value per period, about /proc/loadavg's.
        let load = rates["kernel.all.load"]
            .as_object()
            .unwrap_or_else(|| panic!("{l}"));
        let names: Vec<&str> = load.keys().map(String::as_str).collect();
        assert_eq!(names.len(), 3, "{l}");
        for period in ["1 minute", "5 minute", "15 minute"] {
            let v = load[period]
                .as_f64()
                .unwrap_or_else(|| panic!("{period}: {l}"));
            assert!(v >= 0.0, "{l}");
            // The collector's derived metric, kernel.all.load / hinv.ncpu,
            // from the same fetch.
            let per_cpu = rates["collector.load_per_cpu"][period]
                .as_f64()
                .unwrap_or_else(|| panic!("collector.load_per_cpu {period}: {l}"));
            assert!((per_cpu - v / ncpu).abs() < 1e-6, "{period}: {l}");
        }
        // The counter as a rate: CPU milliseconds per second, at most
        // every CPU busy (with some slack for timing).
        let user = rates["kernel.all.cpu.user"]["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{l}"));
        assert!(
            (0.0..=ncpu * 1000.0 * 1.2).contains(&user),
            "cpu.user rate {user} on {ncpu} CPUs: {l}"
        );
    }
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap();
    let one: f64 = loadavg.split_whitespace().next().unwrap().parse().unwrap();
    let got = lines[2]["rates"]["kernel.all.load"]["1 minute"]
        .as_f64()
        .unwrap();
    assert!(
        (got - one).abs() <= (one * 0.2).max(0.5),
        "1-minute load {got}, /proc/loadavg says {one}"
    );
}
