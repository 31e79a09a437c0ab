//! `pcp-agent push` into a real Prometheus (Debian's, started here with
//! `--web.enable-remote-write-receiver` on a free 127.0.0.1 port, its own
//! data directory): every sample the pusher fetched (it prints each one
//! with `--print`) is in Prometheus with the same value at the same
//! timestamp, and nothing else is. Then Prometheus is stopped for a minute
//! (`PCP_AGENT_PUSH_OUTAGE_SECS`, default 60); during the outage the
//! pusher is killed with SIGKILL and started again on the same queue;
//! when Prometheus is back, the queued samples of both pushers arrive,
//! once each: the series have no gap.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A series: its name and sorted labels, as text.
type Series = String;
/// Its samples: timestamp (ms) -> value as text.
type Points = BTreeMap<i64, String>;

struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, port: u16) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("prometheus.yml");
        std::fs::write(&conf, "global:\n  scrape_interval: 1h\n").unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&format!("http://127.0.0.1:{port}/-/ready")).is_none() {
            assert!(
                Instant::now() < deadline,
                "prometheus did not start: {}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    /// Every sample of the series matching `selector` in the last hour.
    fn series(&self, selector: &str) -> BTreeMap<Series, Points> {
        let q = format!("{selector}[1h]");
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            encode(&q)
        );
        let body = get(&url).expect("query prometheus");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut out = BTreeMap::new();
        for r in v["data"]["result"].as_array().unwrap() {
            let m = r["metric"].as_object().unwrap();
            let mut labels: Vec<(String, String)> = m
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.sort();
            let key = series_key(m["__name__"].as_str().unwrap(), &labels);
            let points: Points = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let ts = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (ts, canonical(p[1].as_str().unwrap()))
                })
                .collect();
            out.insert(key, points);
        }
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn series_key(name: &str, labels: &[(String, String)]) -> Series {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", l.join(","))
}

/// A number as one text for both sides (Prometheus prints `0.5`, Rust's
/// `{:?}` `0.5`; `1` and `1.0`).
fn canonical(v: &str) -> String {
    v.parse::<f64>().map_or(v.to_string(), |f| format!("{f:?}"))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get(url: &str) -> Option<String> {
    ureq::get(url)
        .timeout(Duration::from_secs(10))
        .call()
        .ok()?
        .into_string()
        .ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running pusher and the samples it printed.
struct Pusher {
    child: Child,
    printed: Arc<Mutex<Vec<String>>>,
}

impl Pusher {
    fn start(url: &str, state: &Path) -> Pusher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
            .args(["--agents", "simple", "--state-dir"])
            .arg(state)
            .args(["push", "--remote-write", url, "--interval", "1s", "--print"])
            .args(["--external-label", "test=push_prometheus", "simple", "push"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pcp-agent push");
        let out = child.stdout.take().unwrap();
        let printed: Arc<Mutex<Vec<String>>> = Arc::default();
        let p = Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                p.lock().unwrap().push(line);
            }
        });
        Pusher { child, printed }
    }

    fn kill9(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
        // Let the reader take what the pipe still holds.
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The printed samples: series -> points (staleness markers left out:
/// Prometheus does not return them).
fn printed(lines: &[String]) -> BTreeMap<Series, Points> {
    let mut out: BTreeMap<Series, Points> = BTreeMap::new();
    for l in lines {
        let (head, rest) = l.rsplit_once("} ").expect("name{labels} value ts");
        let (name, labels) = head.split_once('{').unwrap();
        let mut parsed: Vec<(String, String)> = Vec::new();
        let mut text = labels;
        while !text.is_empty() {
            let (k, after) = text.split_once("=\"").unwrap();
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = after.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        let (_, e) = chars.next().unwrap();
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            parsed.push((k.to_string(), value));
            text = after[end..].trim_start_matches(',');
        }
        let mut w = rest.split_whitespace();
        let value = w.next().unwrap();
        let ts: i64 = w.next().unwrap().parse().unwrap();
        if value == "stale" {
            continue;
        }
        out.entry(series_key(name, &parsed))
            .or_default()
            .insert(ts, canonical(value));
    }
    out
}

/// Waits until Prometheus holds every printed sample; returns both sides,
/// Prometheus's up to the last printed timestamp (the pusher goes on).
fn settle(
    prom: &Prometheus,
    lines: &[String],
    timeout: Duration,
) -> (BTreeMap<Series, Points>, BTreeMap<Series, Points>) {
    let want = printed(lines);
    let last = want
        .values()
        .filter_map(|p| p.keys().next_back())
        .max()
        .copied()
        .unwrap_or(0);
    let deadline = Instant::now() + timeout;
    loop {
        let mut have = prom.series("{test=\"push_prometheus\"}");
        for pts in have.values_mut() {
            pts.retain(|t, _| *t <= last);
        }
        have.retain(|_, p| !p.is_empty());
        let complete = want.iter().all(|(k, pts)| {
            have.get(k)
                .is_some_and(|h| pts.keys().all(|t| h.contains_key(t)))
        });
        if complete || Instant::now() > deadline {
            return (want, have);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Prometheus holds exactly the printed samples; `killed_between`: the
/// timestamps of the last sample the killed pusher printed and the first
/// its successor printed, between which one batch may have been queued
/// (synced to disk) but not yet printed when SIGKILL came: it may arrive
/// too, whole.
fn assert_same(
    want: &BTreeMap<Series, Points>,
    have: &BTreeMap<Series, Points>,
    killed_between: Option<(i64, i64)>,
) {
    let mut unprinted = BTreeSet::new();
    let wk: BTreeSet<&Series> = want.keys().collect();
    let hk: BTreeSet<&Series> = have.keys().collect();
    assert_eq!(wk, hk, "series differ");
    for (k, pts) in want {
        let h = &have[k];
        for (t, v) in pts {
            assert_eq!(
                h.get(t),
                Some(v),
                "{k} at {t}: pushed {v}, Prometheus has {:?}",
                h.get(t)
            );
        }
        let extra: Vec<&i64> = h
            .keys()
            .filter(|t| !pts.contains_key(t))
            .filter(|t| match killed_between {
                Some((a, b)) if **t > a && **t < b => {
                    unprinted.insert(**t);
                    false
                }
                _ => true,
            })
            .collect();
        assert!(
            extra.is_empty(),
            "{k}: Prometheus has samples never pushed at {extra:?} (pushed: {:?})",
            pts.keys().collect::<Vec<_>>()
        );
    }
    assert!(unprinted.len() <= 1, "unprinted batches at {unprinted:?}");
}

#[test]
fn samples_reach_prometheus_once_through_an_outage_and_a_kill() {
    if !pcp_core::testing::require(
        "prometheus",
        Path::new(PROMETHEUS).exists(),
        "Debian's prometheus package (scripts/setup-systems.sh)",
    ) {
        return;
    }
    let outage = Duration::from_secs(
        std::env::var("PCP_AGENT_PUSH_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let mut prom = Prometheus::start(&dir.path().join("prometheus"), port);
    let state = dir.path().join("state");
    let mut pusher = Pusher::start(&url, &state);
    std::thread::sleep(Duration::from_secs(5));

    // 1. What the pusher fetched is what Prometheus holds.
    let lines = pusher.printed.lock().unwrap().clone();
    assert!(lines.len() >= 4 * 5, "{} samples printed", lines.len());
    let (want, have) = settle(&prom, &lines, Duration::from_secs(10));
    assert_same(&want, &have, None);

    // 2. Prometheus stops; halfway through the outage the pusher is
    // killed (SIGKILL) and started again on the same queue.
    prom.stop();
    std::thread::sleep(outage / 2);
    pusher.kill9();
    let first_run = pusher.printed.lock().unwrap().clone();
    let mut second = Pusher::start(&url, &state);
    std::thread::sleep(outage - outage / 2);
    let mut prom = Prometheus::start(&prom.dir.clone(), port);
    std::thread::sleep(Duration::from_secs(3));
    let mut all = first_run.clone();
    all.extend(second.printed.lock().unwrap().iter().cloned());
    let last_first = printed(&first_run)
        .values()
        .filter_map(|p| p.keys().next_back().copied())
        .max()
        .unwrap();
    let first_second = printed(&second.printed.lock().unwrap())
        .values()
        .filter_map(|p| p.keys().next().copied())
        .min()
        .unwrap();
    let (want, have) = settle(&prom, &all, Duration::from_secs(60));
    assert_same(&want, &have, Some((last_first, first_second)));

    // 3. No gap: the pushed series has a sample every second, the outage
    // and the restart included.
    let numfetch: Vec<(&Series, &Points)> = have
        .iter()
        .filter(|(k, _)| k.starts_with("simple_numfetch{"))
        .collect();
    assert_eq!(numfetch.len(), 1, "{:?}", have.keys().collect::<Vec<_>>());
    let ts: Vec<i64> = numfetch[0].1.keys().copied().collect();
    let span = (ts[ts.len() - 1] - ts[0]) as f64 / 1000.0;
    assert!(span >= outage.as_secs_f64(), "{span} s of samples");
    let widest = ts.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    // One interval, and the time the killed pusher took to start again.
    assert!(widest <= 3000, "a gap of {widest} ms");
    second.kill9();
    prom.stop();
}

#[test]
fn serve_pushes_as_a_mode() {
    if !pcp_core::testing::require(
        "prometheus",
        Path::new(PROMETHEUS).exists(),
        "Debian's prometheus package (scripts/setup-systems.sh)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prom = Prometheus::start(&dir.path().join("prometheus"), port);
    let http = free_port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "simple", "--state-dir"])
        .arg(dir.path().join("state"))
        .args(["serve", "--listen", &format!("127.0.0.1:{http}")])
        .args([
            "--remote-write",
            &format!("http://127.0.0.1:{port}/api/v1/write"),
        ])
        .args([
            "--push-interval",
            "500ms",
            "--push-label",
            "test=serve_mode",
        ])
        .args(["--push-metric", "simple.numfetch", "--push-metric", "push"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = BTreeMap::new();
    while Instant::now() < deadline {
        got = prom.series("{test=\"serve_mode\"}");
        if got
            .keys()
            .any(|k| k.starts_with("push_samples_sent_total{"))
            && got.values().map(|p| p.len()).max().unwrap_or(0) >= 3
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let metrics = get(&format!("http://127.0.0.1:{http}/metrics")).unwrap_or_default();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        got.keys().any(|k| k.starts_with("simple_numfetch{")),
        "{:?}",
        got.keys().collect::<Vec<_>>()
    );
    assert!(got
        .keys()
        .any(|k| k.starts_with("push_samples_sent_total{")));
    // The same agent's metrics on /metrics.
    assert!(metrics.contains("push_samples_sent_total{"), "{metrics}");
}
