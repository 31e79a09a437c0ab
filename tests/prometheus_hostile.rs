//! Hostile sources through the binary, as `pcp-agent info -f` sees them:
//! a 100 MB source with 2,000 metric names and a million instances, a
//! 50 MB label value, a source that never answers and a good one. The
//! peak memory of the whole process stays within the documented bound
//! (`pmda_prometheus::Limits`: per source its kept state, two read pieces
//! and one line; plus what one fetch's answer holds, which is at most the
//! kept state again), and the log gets one line per source and condition,
//! not one per ignored name.

use std::io::{BufWriter, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use pmda_prometheus::source::{Limits, READ_CHUNK};

/// Runs pcp-agent and returns (exit code, stdout, stderr, peak RSS in
/// bytes), the peak from the kernel's accounting of the reaped child
/// (reaped with wait4 for its rusage, not with `Child::wait`).
#[allow(clippy::zombie_processes)]
fn run(args: &[&str], state: &Path) -> (i32, String, String, usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(args)
        .env("PCP_AGENT_STATE_DIR", state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pcp-agent");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    let stderr = t.join().unwrap();
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our child's; status and ru are valid pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(pid, child.id() as i32);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, stdout, stderr, ru.ru_maxrss as usize * 1024)
}

fn config(dir: &Path, slow: &str) {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    // 100 MB: 2,000 names (past the 1,024 per source), distinct instances.
    let big = dir.join("big.txt");
    let mut f = BufWriter::new(std::fs::File::create(&big).unwrap());
    let (mut i, mut size) = (0usize, 0usize);
    while size < 100 << 20 {
        let line = format!(
            "big_metric_{}{{a=\"{i}\",b=\"value-{}\"}} {i}\n",
            i % 2000,
            i * 7
        );
        f.write_all(line.as_bytes()).unwrap();
        size += line.len();
        i += 1;
    }
    f.flush().unwrap();
    let label = dir.join("label.txt");
    let mut f = BufWriter::new(std::fs::File::create(&label).unwrap());
    f.write_all(b"huge{v=\"").unwrap();
    let x = vec![b'x'; 1 << 20];
    for _ in 0..50 {
        f.write_all(&x).unwrap();
    }
    f.write_all(b"\"} 1\nsmall 2\n").unwrap();
    f.flush().unwrap();
    let good = dir.join("good.txt");
    std::fs::write(&good, "good_total 5\n").unwrap();
    for (name, url) in [
        ("big", format!("file://{}", big.display())),
        ("label", format!("file://{}", label.display())),
        ("good", format!("file://{}", good.display())),
        ("slow", format!("{slow}\nTIMEOUT: 1")),
    ] {
        std::fs::write(conf.join(format!("{name}.url")), format!("{url}\n")).unwrap();
    }
}

#[test]
fn hostile_sources_stay_within_the_memory_bound_and_log_once() {
    let dir = tempfile::tempdir().unwrap();
    // A source that accepts and never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = format!("http://{}/metrics", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    config(dir.path(), &slow);
    let conf = dir.path().join("conf");
    let conf = conf.to_str().unwrap();
    // The same process with only the good source: the baseline.
    let only_good = dir.path().join("good-only");
    std::fs::create_dir_all(&only_good).unwrap();
    std::fs::copy(dir.path().join("conf/good.url"), only_good.join("good.url")).unwrap();
    let (rc, _, err, base) = run(
        &[
            "--agents",
            "prometheus",
            "--prometheus-config",
            only_good.to_str().unwrap(),
            "info",
            "-f",
            "prometheus",
        ],
        &dir.path().join("state0"),
    );
    assert_eq!(rc, 0, "{err}");
    // Every source read to its end before the answer (the test build
    // parses slowly): deadlines and timeouts far beyond the defaults.
    let (rc, out, err, peak) = run(
        &[
            "--agents",
            "prometheus",
            "--prometheus-config",
            conf,
            "--prometheus-deadline",
            "300",
            "--prometheus-timeout",
            "60",
            "--agent-timeout",
            "600",
            "info",
            "-f",
            "prometheus",
        ],
        &dir.path().join("state1"),
    );
    assert_eq!(rc, 0, "{err}");
    let limits = Limits::default();
    let per_source = limits.max_state + 2 * READ_CHUNK + limits.max_line;
    // The big source's kept state, once more for the answer to one fetch
    // of all of it (values and instance names), and the other sources'
    // reading buffers.
    let bound = base + 2 * per_source + 3 * (2 * READ_CHUNK + limits.max_line);
    eprintln!(
        "peak RSS {} MiB, baseline {} MiB, bound {} MiB",
        peak >> 20,
        base >> 20,
        bound >> 20
    );
    assert!(peak <= bound, "peak {peak} over the bound {bound}");
    // One line per source and condition: not one per ignored name.
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("Warning")).collect();
    assert!(warnings.len() <= 4, "{warnings:#?}");
    let big: Vec<&&str> = warnings
        .iter()
        .filter(|l| l.contains("source big:"))
        .collect();
    assert_eq!(big.len(), 1, "{warnings:#?}");
    assert!(big[0].contains("976 names ignored"), "{}", big[0]);
    assert!(!err.contains("big_metric_1999"), "a line per name");
    // The good source is answered in full, the others as far as they go.
    assert!(
        out.contains("prometheus.good.good_total\n    value 5"),
        "{}",
        &out[..out.len().min(2000)]
    );
    assert!(out.contains("prometheus.label.small\n    value 2"));
    let status = out
        .split("prometheus.control.status\n")
        .nth(1)
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("");
    assert!(
        status.contains("1 lines longer than 65536 bytes skipped"),
        "{status}"
    );
    assert!(status.contains("timed out"), "{status}");
}

/// The case the outside check saw: a source of 10,000 metric names (the
/// limit is 1,024 per source) fetched again and again. pmdaopenmetrics
/// and our agent before `log::Repeats` wrote a line per ignored name per
/// fetch; now the condition is written once (and again only after
/// `REPEAT_INTERVAL` with a count), while the `status` control metric
/// says it on every fetch.
#[test]
fn ten_thousand_names_fetched_repeatedly_log_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let doc = dir.path().join("many.txt");
    let text: String = (0..10_000).map(|i| format!("many_{i} {i}\n")).collect();
    std::fs::write(&doc, text).unwrap();
    std::fs::write(conf.join("many.url"), format!("file://{}\n", doc.display())).unwrap();
    let samples = 30;
    let (rc, out, err, _) = run(
        &[
            "--agents",
            "prometheus",
            "--prometheus-config",
            conf.to_str().unwrap(),
            "watch",
            // JSON: the table view cuts strings to their column's width.
            "--json",
            "-t",
            "0.1",
            "-s",
            &samples.to_string(),
            "prometheus.many.many_1",
            "prometheus.control.status",
        ],
        &dir.path().join("state"),
    );
    assert_eq!(rc, 0, "{err}");
    let about_names: Vec<&str> = err.lines().filter(|l| l.contains("names")).collect();
    assert_eq!(about_names.len(), 1, "{about_names:#?}");
    assert!(
        about_names[0].contains("8976 names ignored"),
        "{}",
        about_names[0]
    );
    assert!(!err.contains("many_9999"), "a line per name: {err}");
    // Every sample's status still says it.
    let said = out.matches("8976 names ignored").count();
    assert!(said >= samples - 1, "status said it {said} times:\n{out}");
}
