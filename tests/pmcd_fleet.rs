//! The fleet path with PCP's own engine: our agents under a private pmcd,
//! pmlogger archives of their metrics, real pmproxy (6.0.3) discovering a
//! live archive and loading it into a local redis-server (Debian's, on a
//! free 127.0.0.1 port), and `pmseries` (and pmproxy's /series REST API,
//! what Grafana's PCP plugin uses) returning our metrics' values; and
//! `pmseries --load` of a finished archive giving back exactly the values
//! pmdumplog reads from it.

mod pmcd_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pcp_agent::agents::AgentOptions;
use pcp_agent::pmcd::InstallOptions;
use pmcd_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_pcp-agent");
const PMPROXY: &str = "/usr/lib/pcp/bin/pmproxy";

/// Metrics logged in these tests: a counter and instants of the linux
/// agent, the simple agent's fetch counter.
const LOGGED: &str = "log mandatory on 200 msec {\n    simple.numfetch\n    kernel.all.pswitch\n    mem.util.free\n    hinv.ncpu\n}\n";

fn have_fleet_tools() -> bool {
    require_pmcd("the fleet path")
        && pcp_core::testing::require(
            "redis-server",
            Path::new(REDIS_SERVER).exists() && pcp_core::testing::have_program("pmseries"),
            "Debian's redis-server and PCP's pmseries",
        )
}

/// A private pmcd running our simple and linux agents (their pmcd.conf
/// lines as `pcp-agent install` writes them).
fn pmcd_with_our_agents(state: &Path) -> PrivatePmcd {
    let mut lines = vec![PMCD_DSO_LINE.to_string()];
    let mut roots = Vec::new();
    for name in ["simple", "linux"] {
        let mut o = AgentOptions::defaults();
        o.agents = vec![name.into()];
        o.state_dir = Some(state.join(name));
        let agent = o.build_agent(name).expect("agent");
        let mut io = InstallOptions::system(
            name,
            agent.domain(),
            PathBuf::from(BIN),
            agent.namespace().top_level(),
        );
        io.agent_args = o.args_for(name);
        lines.push(io.conf_line());
        roots.extend(
            io.prefixes
                .iter()
                .map(|p| format!("{p}\t{}:*:*", agent.domain())),
        );
    }
    let p = PrivatePmcd::start(&lines, &roots);
    for name in ["simple", "kernel.all"] {
        assert!(
            p.wait_for(name, Duration::from_secs(20)),
            "{name} not served:\n{}",
            p.log()
        );
    }
    p
}

/// `pmseries -h 127.0.0.1 -p PORT ARGS`.
fn pmseries(redis: &Redis, args: &[&str]) -> String {
    let out = run_bounded(
        client("pmseries")
            .args(["-h", "127.0.0.1", "-p", &redis.port.to_string()])
            .args(args),
        Duration::from_secs(20),
    );
    format!("{}{}", stdout(&out), stderr(&out))
}

/// The values of `pmseries 'METRIC[samples:N]'` output (`[time] value`
/// lines), oldest first.
fn series_values(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            l.starts_with('[')
                .then(|| l.rsplit_once("] ").map(|(_, v)| v.trim().to_string()))
                .flatten()
        })
        .collect();
    v.reverse();
    v
}

/// A plain HTTP GET on 127.0.0.1, returning the status line and the body
/// (read up to its Content-Length: pmproxy keeps connections alive).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to pmproxy");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // One write: pmproxy 6.0.3 can fail to route a URL that arrives split
    // across reads ("unknown servlet"), which write! with arguments makes.
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(usize::MAX);
            if body.len() >= len {
                let status = head.lines().next().unwrap_or("").to_string();
                return (status, body.to_string());
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {
                let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                return (
                    head.lines().next().unwrap_or("").to_string(),
                    body.to_string(),
                );
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// pmproxy with time series on: redis at `redis_port`, archive discovery
/// under `archives`. Killed on drop.
struct Pmproxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Pmproxy {
    fn start(dir: &Path, redis_port: u16, archives: &Path) -> Pmproxy {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("pmproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "[pmproxy]\npcp.enabled = true\nhttp.enabled = true\nredis.enabled = true\nsecure.enabled = false\n\
                 [redis]\nenabled = true\nservers = 127.0.0.1:{redis_port}\n\
                 [discover]\nenabled = true\n\
                 [pmsearch]\nenabled = false\n\
                 [pmseries]\nenabled = true\n"
            ),
        )
        .unwrap();
        for sub in ["run", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let port = a_free_port();
        let log = dir.join("pmproxy.log");
        let child = Command::new(PMPROXY)
            .env("PCP_ARCHIVE_DIR", archives)
            .env("PCP_RUN_DIR", dir.join("run"))
            .env("PCP_LOG_DIR", dir.join("log"))
            .args(["-f", "-A", "-U", "root", "-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg("-s")
            .arg(dir.join("pmproxy.socket"))
            .arg("-c")
            .arg(&conf)
            .arg("-l")
            .arg(&log)
            .arg("-x")
            .arg(dir.join("pmproxy.fatal"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting pmproxy");
        let px = Pmproxy { child, port, log };
        assert!(
            wait_until(Duration::from_secs(15), || pcp_core::testing::port_open(
                &format!("127.0.0.1:{port}")
            )),
            "pmproxy did not start:\n{}",
            std::fs::read_to_string(&px.log).unwrap_or_default()
        );
        px
    }
}

impl Drop for Pmproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pmproxy_loads_a_live_archive_of_our_agents_into_redis() {
    if !have_fleet_tools()
        || !pcp_core::testing::require("pmproxy", Path::new(PMPROXY).exists(), "PCP's pmproxy")
        || !require_pmlogger("pmlogger writes the archive pmproxy loads")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = pmcd_with_our_agents(&dir.path().join("state"));
    let redis = Redis::start();
    let archives = dir.path().join("archives");
    std::fs::create_dir_all(archives.join("agents")).unwrap();
    let px = Pmproxy::start(&dir.path().join("pmproxy"), redis.port, &archives);
    // pmlogger writes under the directory pmproxy watches.
    let mut logger = p.logger(LOGGED, &archives.join("agents").join("live"));

    // pmproxy tails the archive into redis while pmlogger writes it.
    let mut last = String::new();
    let loaded = wait_until(Duration::from_secs(30), || {
        last = pmseries(&redis, &["simple.numfetch[samples:5]"]);
        series_values(&last).len() >= 3
    });
    let log = logger.stop();
    assert!(
        loaded,
        "pmseries found no values:\n{last}\npmproxy log:\n{}\npmlogger log:\n{log}",
        std::fs::read_to_string(&px.log).unwrap_or_default()
    );
    let values: Vec<u64> = series_values(&last)
        .iter()
        .map(|v| v.parse().expect("numfetch is an integer"))
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "fetch counts should grow: {values:?}"
    );

    // The REST API Grafana's PCP plugin uses: query, descriptor, values.
    let (status, body) = http_get(px.port, "/series/query?expr=kernel.all.pswitch");
    let ids: Vec<String> =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {status}\n{body}"));
    assert_eq!(ids.len(), 1, "{body}");
    let (status, body) = http_get(px.port, &format!("/series/descs?series={}", ids[0]));
    let descs: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {status}\n{body:?}"));
    let desc = &descs[0];
    assert_eq!(desc["pmid"], "60.0.13", "{body}");
    assert_eq!(desc["semantics"], "counter", "{body}");
    assert_eq!(desc["type"], "u64", "{body}");
    let (_, body) = http_get(
        px.port,
        &format!("/series/values?series={}&samples=3", ids[0]),
    );
    let values: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    let values = values.as_array().expect("a JSON array of samples");
    assert!(!values.is_empty(), "{body}");
    for v in values {
        let n: u64 = v["value"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{v}"));
        assert!(n > 0, "{v}");
    }
}

/// Values of `pmdumplog ARCHIVE METRIC` for a singular metric, in order.
fn dumped_values(text: &str, metric: &str) -> Vec<String> {
    let tag = format!("({metric}): value ");
    text.lines()
        .filter_map(|l| l.split_once(&tag).map(|(_, v)| v.trim().to_string()))
        .collect()
}

#[test]
fn pmseries_load_gives_back_the_archive_values() {
    if !have_fleet_tools() || !require_pmlogger("pmlogger writes the archive pmseries loads") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = pmcd_with_our_agents(&dir.path().join("state"));
    let mut logger = p.logger(LOGGED, &dir.path().join("archive"));
    std::thread::sleep(Duration::from_millis(2500));
    let log = logger.stop();
    let arch = logger.archive_arg();

    let redis = Redis::start();
    // pmseries 6.0.3 may exit quietly without loading when redis is
    // brand new (its schema set-up races the load): load until it says
    // it processed the archive.
    let mut text = String::new();
    let loaded = wait_until(Duration::from_secs(20), || {
        text = pmseries(&redis, &["--load", &arch]);
        text.contains("processed")
    });
    assert!(loaded, "{text}\npmlogger log:\n{log}");

    for metric in [
        "simple.numfetch",
        "kernel.all.pswitch",
        "mem.util.free",
        "hinv.ncpu",
    ] {
        let out = run_bounded(
            client("pmdumplog").args([&arch, metric]),
            Duration::from_secs(20),
        );
        let want = dumped_values(&stdout(&out), metric);
        assert!(
            !want.is_empty(),
            "{metric} not in the archive:\n{}",
            stdout(&out)
        );
        let got = series_values(&pmseries(&redis, &[&format!("{metric}[samples:1000]")]));
        // hinv.ncpu is discrete: pmlogger logs it once.
        assert_eq!(got, want, "{metric}: pmseries vs pmdumplog");
    }
}
