//! `pcp-agent pmcd` as a process on a free port and a private unix
//! socket, for PCP's own clients to talk to; killed on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Our binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_pcp-agent");

/// A running `pcp-agent pmcd`.
#[derive(Debug)]
pub struct Ours {
    child: Child,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its unix socket.
    pub socket: PathBuf,
    /// Where its standard error goes.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Ours {
    /// Starts `pcp-agent GLOBAL... pmcd --listen 127.0.0.1:PORT --socket S EXTRA...`
    /// and waits until both listeners answer.
    pub fn start(global: &[String], extra: &[&str]) -> Ours {
        let dir = tempfile::Builder::new()
            .prefix("pcp-agent-ours")
            .tempdir()
            .expect("scratch directory");
        let socket = dir.path().join("pmcd.socket");
        let log = dir.path().join("pmcd.log");
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(BIN)
                .args(global)
                .arg("pmcd")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--socket")
                .arg(&socket)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("starting pcp-agent pmcd");
            let deadline = Instant::now() + Duration::from_secs(30);
            let up = loop {
                if let Ok(Some(_)) = child.try_wait() {
                    // Lost the port to someone else: try another.
                    break false;
                }
                if pcp_core::testing::port_open(&format!("127.0.0.1:{port}")) && socket.exists() {
                    break true;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "pcp-agent pmcd did not start:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            if up {
                return Ours {
                    child,
                    port,
                    socket,
                    log,
                    _dir: dir,
                };
            }
        }
        panic!(
            "pcp-agent pmcd would not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `127.0.0.1:PORT`, for `-h`.
    pub fn tcp(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `unix:SOCKET`, for `-h`.
    pub fn unix(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The global options of our binary for these agents, a state directory
/// and (for prometheus) a config.d.
pub fn global_args(agents: &str, state: &Path, prometheus_config: Option<&Path>) -> Vec<String> {
    let mut a = vec![
        "--agents".to_string(),
        agents.to_string(),
        "--state-dir".to_string(),
        state.display().to_string(),
    ];
    if let Some(c) = prometheus_config {
        a.extend(["--prometheus-config".to_string(), c.display().to_string()]);
    }
    a
}

/// A prometheus config.d with one file source whose values never move.
pub fn static_prometheus_config(dir: &Path) -> PathBuf {
    let conf = dir.join("config.d");
    std::fs::create_dir_all(&conf).unwrap();
    let doc = dir.join("static.prom");
    std::fs::write(
        &doc,
        "# HELP http_requests_total Total HTTP requests\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{method=\"get\",code=\"200\"} 1027\n\
         http_requests_total{method=\"post\",code=\"200\"} 3\n\
         # HELP temperature_celsius Room temperature\n\
         # TYPE temperature_celsius gauge\n\
         temperature_celsius{room=\"kitchen\"} 21.5\n\
         temperature_celsius{room=\"hall\"} 19\n\
         # HELP request_duration_seconds Request latency\n\
         # TYPE request_duration_seconds histogram\n\
         request_duration_seconds_bucket{le=\"0.1\"} 5\n\
         request_duration_seconds_bucket{le=\"+Inf\"} 7\n\
         request_duration_seconds_sum 1.5\n\
         request_duration_seconds_count 7\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("static.url"),
        format!("file://{}\n", doc.display()),
    )
    .unwrap();
    conf
}
