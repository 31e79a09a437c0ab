//! Helpers shared by the `serve_*` tests: start `pcp-agent serve` (and
//! real pmproxy) on free loopback ports, a small HTTP/1.1 client, and the
//! choice of metrics (our linux agent's, as pmproxy serves PCP's
//! pmdalinux). Every wait is bounded; children are killed on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until `addr` accepts connections; false on timeout.
pub fn wait_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Where its stderr goes.
    pub log: PathBuf,
    /// Its scratch directory.
    pub dir: tempfile::TempDir,
}

impl Proc {
    /// The child's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when our linux agent can be loaded (it answers kernel.all.load).
pub fn linux_agent_available() -> bool {
    Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "linux", "info", "kernel.all.load"])
        .env(
            "PCP_AGENT_STATE_DIR",
            std::env::temp_dir().join("pcp-agent-serve-probe"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The metrics a test uses: an instance-domain gauge, a singular metric
/// and a counter, with their parent node.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Prefixes the page test shows (comma-separated, as the page's
    /// filter and `/pmapi/metric?prefix=` take them).
    pub page: &'static str,
    /// `--agents` value.
    pub agents: &'static str,
    /// A gauge with an instance domain (kernel.all.load).
    pub indom_gauge: &'static str,
    /// A singular metric (hinv.ncpu).
    pub singular: &'static str,
    /// A counter (kernel.all.cpu.user).
    pub counter: &'static str,
    /// The parent of `indom_gauge`.
    pub parent: &'static str,
}

/// Our linux agent's metrics (the same names pmproxy serves from PCP's
/// pmdalinux). `None` when the linux agent does not load here: the test
/// is then skipped, or fails under CI and `./test.sh` (see
/// `pcp_core::testing::require`); it never falls back to other metrics.
pub fn our_metrics() -> Option<Metrics> {
    if !pcp_core::testing::require(
        "linux agent",
        linux_agent_available(),
        "our linux agent does not load here (it serves kernel.all.load)",
    ) {
        return None;
    }
    Some(Metrics {
        page: "kernel.all.load,kernel.all.cpu.user,kernel.all.cpu.sys,kernel.all.cpu.idle,\
               kernel.all.pswitch,hinv.ncpu,mem.util.used,mem.util.free,disk.dev.read_bytes,\
               disk.dev.write_bytes,network.interface.in.bytes,network.interface.out.bytes",
        agents: "linux,simple",
        indom_gauge: "kernel.all.load",
        singular: "hinv.ncpu",
        counter: "kernel.all.cpu.user",
        parent: "kernel.all",
    })
}

/// The same roles served by PCP's own pmdalinux behind pmcd.
pub fn pcp_metrics() -> Metrics {
    Metrics {
        page: "",
        agents: "",
        indom_gauge: "kernel.all.load",
        singular: "hinv.ncpu",
        counter: "kernel.all.cpu.user",
        parent: "kernel.all",
    }
}

/// Starts `pcp-agent --agents AGENTS serve --listen 127.0.0.1:0 EXTRA`
/// and returns once it listens, with the port it was given (read from its
/// "listening on" line: no window in which a parallel test could take a
/// port picked in advance).
pub fn start_serve(agents: &str, extra: &[&str]) -> (Proc, SocketAddr) {
    let dir = tempfile::Builder::new()
        .prefix("pcp-agent-serve")
        .tempdir()
        .expect("scratch dir");
    let log = dir.path().join("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", agents, "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("PCP_AGENT_STATE_DIR", dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start pcp-agent serve");
    let mut p = Proc { child, log, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr: SocketAddr = loop {
        let text = p.log();
        if let Some(a) = text
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
        {
            break a;
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("pcp-agent serve exited ({status}):\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "pcp-agent serve did not listen within 60 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        wait_port(addr, Duration::from_secs(60)),
        "pcp-agent serve does not accept on {addr}:\n{}",
        p.log()
    );
    (p, addr)
}

/// Starts a server that must be given its port in advance: `spawn` starts
/// it on the address, `ready` says whether it answers. A port picked free
/// can be taken by another process before the server binds it; then the
/// server exits (or never answers) and it is started again on another
/// port, up to 5 times.
pub fn start_on_free_port(
    what: &str,
    timeout: Duration,
    mut spawn: impl FnMut(SocketAddr) -> Proc,
    ready: impl Fn(SocketAddr) -> bool,
) -> (Proc, SocketAddr) {
    let mut failures = Vec::new();
    for _ in 0..5 {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut p = spawn(addr);
        let deadline = Instant::now() + timeout;
        let outcome = loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                break Err(format!("{what} on {addr} exited ({status}):\n{}", p.log()));
            }
            if ready(addr) {
                // Still ours? A server that lost the port exits soon after.
                std::thread::sleep(Duration::from_millis(200));
                match p.child.try_wait() {
                    Ok(None) => break Ok(()),
                    _ => break Err(format!("{what} on {addr} exited:\n{}", p.log())),
                }
            }
            if Instant::now() > deadline {
                break Err(format!(
                    "{what} did not answer on {addr} within {timeout:?}:\n{}",
                    p.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        match outcome {
            Ok(()) => return (p, addr),
            Err(e) => failures.push(e),
        }
    }
    panic!("could not start {what}:\n{}", failures.join("\n"));
}

/// pmproxy's path on Debian.
pub const PMPROXY: &str = "/usr/lib/pcp/bin/pmproxy";

/// True when pmproxy is installed and pmcd answers on its default port.
pub fn have_pmproxy_and_pmcd() -> bool {
    Path::new(PMPROXY).exists() && pcp_core::testing::port_open("127.0.0.1:44321")
}

/// Starts a private pmproxy (its own port, log and run directory) in
/// front of the system pmcd, and waits until its REST API answers.
pub fn start_pmproxy() -> (Proc, SocketAddr) {
    start_on_free_port(
        "pmproxy",
        Duration::from_secs(60),
        |addr| {
            let dir = tempfile::Builder::new()
                .prefix("pcp-agent-pmproxy")
                .tempdir()
                .expect("scratch dir");
            let log = dir.path().join("pmproxy.log");
            let run = dir.path().join("run");
            std::fs::create_dir_all(&run).unwrap();
            let mut cmd = Command::new(PMPROXY);
            cmd.arg("-f").arg("-A");
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                cmd.args(["-U", "root"]);
            }
            let child = cmd
                .args(["-i", "127.0.0.1", "-p", &addr.port().to_string()])
                .arg("-s")
                .arg(dir.path().join("pmproxy.socket"))
                .arg("-l")
                .arg(&log)
                .arg("-x")
                .arg(dir.path().join("pmproxy.fatal"))
                .env("PCP_RUN_DIR", &run)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start pmproxy");
            Proc { child, log, dir }
        },
        |addr| matches!(get(addr, "/pmapi/context"), Ok((200, _))),
    )
}

/// One HTTP/1.1 GET (Connection: close); returns status and body, with
/// chunked transfer decoded.
pub fn get(addr: SocketAddr, target: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", target, &[])
}

/// One HTTP/1.1 request with an optional body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    request_accepting(addr, method, target, body, "*/*").map(|(s, _, b)| (s, b))
}

/// One HTTP/1.1 request with the given `Accept` header; returns status,
/// Content-Type and body.
pub fn request_accepting(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
    accept: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad HTTP response: {:?}", String::from_utf8_lossy(&raw)),
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<(u16, String, String)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let body = &raw[end + 4..];
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some((
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// GET returning parsed JSON, retried until `timeout` has passed while
/// the server is not there yet or busy: a refused or reset connection, a
/// timeout, a 503 or an answer that is not JSON (a server still starting)
/// is tried again every 250 ms. Panics with the last failure after that.
pub fn get_json_patiently(
    addr: SocketAddr,
    target: &str,
    timeout: Duration,
) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + timeout;
    loop {
        let failure = match get(addr, target) {
            Ok((503, body)) => format!("503: {body}"),
            Ok((status, body)) => match serde_json::from_str(body.trim()) {
                Ok(j) => return (status, j),
                Err(e) => format!("{status}, not JSON ({e}): {body}"),
            },
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "GET http://{addr}{target} kept failing for {timeout:?}; last: {failure}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// GET returning parsed JSON (panics with the body if it is not JSON).
pub fn get_json(addr: SocketAddr, target: &str) -> (u16, serde_json::Value) {
    let (status, body) = get(addr, target).unwrap_or_else(|e| panic!("GET {target}: {e}"));
    let j = serde_json::from_str(body.trim())
        .unwrap_or_else(|e| panic!("GET {target}: not JSON ({e}): {body}"));
    (status, j)
}
