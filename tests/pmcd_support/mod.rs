//! Test harness for running agents under a real, private pmcd: its own
//! port, unix socket, pmcd.conf, PMNS root, run and log directories, so
//! the system pmcd is never touched. Killed on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The pmcd binary (PCP 6 on Debian).
pub const PMCD: &str = "/usr/lib/pcp/bin/pmcd";

/// pmcd.conf line of pmcd's own agent (domain 2), a DSO in pmcd itself.
pub const PMCD_DSO_LINE: &str = "pmcd\t2\tdso\tpmcd_init\t/var/lib/pcp/pmdas/pmcd/pmda_pmcd.so";

/// True when pmcd and the client tools are installed; a test that needs
/// them returns when this is false (a skip, or under CI and `./test.sh` a
/// failure: see `pcp_core::testing::require`).
pub fn require_pmcd(why: &str) -> bool {
    let have = Path::new(PMCD).exists()
        && pcp_core::testing::have_program("pminfo")
        && pcp_core::testing::have_program("pmval");
    pcp_core::testing::require("pmcd", have, why)
}

/// True when PCP's pmlogger is installed; a test that records archives
/// calls this and returns when it says false (a skip, or under CI and
/// `./test.sh` a failure: see `pcp_core::testing::require`).
pub fn require_pmlogger(why: &str) -> bool {
    pcp_core::testing::require("pmlogger", pcp_core::testing::have_program("pmlogger"), why)
}

/// True when PCP's Python tools (pmrep) can run (python3-pcp).
pub fn require_pmrep(why: &str) -> bool {
    pcp_core::testing::require("python3-pcp", have_python_pcp(), why)
}

/// The test PMDA (pcp-core's `pdu_test_pmda` example), built if needed.
pub fn test_pmda() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/pdu_test_pmda
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let bin = profile_dir.join("examples").join("pdu_test_pmda");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "pcp-core",
                "--example",
                "pdu_test_pmda",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo to build the test PMDA");
        assert!(status.success(), "building the test PMDA failed");
    }
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private pmcd.
#[derive(Debug)]
pub struct PrivatePmcd {
    /// Its scratch directory (config, PMNS, logs); removed on drop.
    pub dir: tempfile::TempDir,
    /// Its TCP port.
    pub port: u16,
    /// Its unix socket.
    pub socket: PathBuf,
    /// Its pmcd.conf.
    pub conf: PathBuf,
    /// Its PMNS directory (`root` inside).
    pub pmns_dir: PathBuf,
    child: Child,
}

impl PrivatePmcd {
    /// Starts pmcd with these agent lines and these `root { }` entries,
    /// and waits until it accepts connections.
    pub fn start(agent_lines: &[String], root_entries: &[String]) -> PrivatePmcd {
        let root = root_block(root_entries);
        PrivatePmcd::start_with(agent_lines, &root, &[])
    }

    /// Starts pmcd with these agent lines, this whole PMNS `root` file and
    /// these extra environment variables (for pmcd and so for its agents).
    /// `PCP_VAR_DIR` points into the scratch directory, so agents that keep
    /// state there (PCP's pmdalinux and pmdaopenmetrics write their
    /// instance caches to `$PCP_VAR_DIR/config/pmda`) leave the system's
    /// alone.
    pub fn start_with(agent_lines: &[String], root: &str, env: &[(&str, &str)]) -> PrivatePmcd {
        let dir = tempfile::Builder::new()
            .prefix("pcp-agent-pmcd")
            .tempdir()
            .expect("scratch directory");
        let d = dir.path();
        for sub in ["run", "log", "pmns", "tmp", "var/config/pmda"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let conf = d.join("pmcd.conf");
        let mut text = String::new();
        for l in agent_lines {
            text.push_str(l);
            text.push('\n');
        }
        text.push_str("\n[access]\nallow \".*\" : all;\nallow \":*\" : all;\n");
        std::fs::write(&conf, text).unwrap();
        let pmns_dir = d.join("pmns");
        std::fs::write(pmns_dir.join("root"), root).unwrap();
        let port = free_port();
        let socket = d.join("pmcd.socket");
        let mut cmd = Command::new(PMCD);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .env("PCP_VAR_DIR", d.join("var"))
            .env("PCP_TMP_DIR", d.join("tmp"))
            .env("PCP_RUN_DIR", d.join("run"))
            .env("PCP_LOG_DIR", d.join("log"))
            .env("PMCD_ROOT_AGENT", "0")
            .env("PMCD_RESTART_AGENTS", "0")
            .args(["-f", "-A", "-U", "root", "-c"])
            .arg(&conf)
            .arg("-n")
            .arg(pmns_dir.join("root"))
            .arg("-p")
            .arg(port.to_string())
            .arg("-s")
            .arg(&socket)
            .arg("-l")
            .arg(d.join("pmcd.log"))
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting pmcd");
        let p = PrivatePmcd {
            dir,
            port,
            socket,
            conf,
            pmns_dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut p = p;
        while !pcp_core::testing::port_open(&p.host()) {
            let exited = matches!(p.child.try_wait(), Ok(Some(_)));
            assert!(
                Instant::now() < deadline && !exited,
                "private pmcd did not start:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    /// Starts pmcd with no pipe agent: only pmcd's own DSO agent (pmcd
    /// refuses to start with none), ready for agents to be installed.
    pub fn start_empty() -> PrivatePmcd {
        PrivatePmcd::start(&[PMCD_DSO_LINE.to_string()], &[])
    }

    /// `localhost:PORT`, for `-h`.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// `unix:SOCKET`, for `-h` (pmcd then sends the agent the client's
    /// credentials).
    pub fn unix_host(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// pmcd's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A PCP client command aimed at this pmcd.
    pub fn tool(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.arg("-h").arg(self.host());
        c
    }

    /// Runs a client command and returns its output, bounded by a timeout.
    pub fn run(&self, cmd: &mut Command) -> Output {
        run_bounded(cmd, Duration::from_secs(30))
    }

    /// Waits until `pminfo NAME` lists names below NAME (the agent
    /// serving that subtree is ready).
    pub fn wait_for(&self, name: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            // While a notready agent starts, pminfo lists a dynamic root as
            // a leaf of its own (or prints "Try again"), and exits 0.
            // A line that is a metric name below NAME: pminfo's messages
            // are not names, while names may hold words such as "Error"
            // (node_exporter's node_netstat_Udp_InErrors).
            let out = self.run(self.client("pminfo").arg(name));
            let text = String::from_utf8_lossy(&out.stdout);
            let below = format!("{name}.");
            if out.status.success()
                && text
                    .lines()
                    .any(|l| l.starts_with(&below) && pcp_core::namespace::valid_name(l))
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// pmcd's log (agents' stderr goes there too).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pmcd.log")).unwrap_or_default()
    }
}

/// A PMNS `root` file holding these entries (`NAME` or `NAME DOMAIN:*:*`).
pub fn root_block(entries: &[String]) -> String {
    let mut root = String::from("root {\n");
    for e in entries {
        root.push('\t');
        root.push_str(e);
        root.push('\n');
    }
    root.push_str("}\n");
    root
}

impl Drop for PrivatePmcd {
    fn drop(&mut self) {
        // SIGTERM lets pmcd close its agents' pipes; they exit on EOF. An
        // agent that does not (pmdabpftrace: its Python child holds the
        // pipe) is stopped too, so no test leaves processes behind.
        let agents = self.agent_pids();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut exited = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let alive = |pid: &u32| Path::new(&format!("/proc/{pid}")).exists();
        for (sig, wait) in [("-TERM", 2000), ("-KILL", 0)] {
            let left: Vec<String> = agents
                .iter()
                .filter(|p| alive(p))
                .map(u32::to_string)
                .collect();
            if left.is_empty() {
                break;
            }
            let _ = Command::new("kill").arg(sig).args(&left).status();
            let _ = wait_until(Duration::from_millis(wait), || !agents.iter().any(alive));
        }
    }
}

/// Runs `cmd` with its output captured (read while it runs, so large
/// outputs cannot block it), killing it after `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("collecting output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let out = rx.recv().expect("child reaped").expect("collecting output");
            panic!(
                "{:?} timed out after {timeout:?}; output so far:\n{}",
                cmd.get_program(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl PrivatePmcd {
    /// The pids of pmcd's children (its pipe agents).
    pub fn agent_pids(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    /// Runs a PCP client with PCP's derived metrics off (so that only the
    /// agents' own names show) and a system PATH (PCP's Python tools must
    /// find the python3 that has PCP's modules).
    pub fn client(&self, program: &str) -> Command {
        let mut c = client(program);
        c.arg("-h").arg(self.host());
        c
    }

    /// Starts pmlogger against this pmcd with this configuration, writing
    /// `archive` (a path without suffix).
    pub fn logger(&self, config: &str, archive: &Path) -> Logger {
        let d = self.dir.path();
        let conf = archive.with_extension("config");
        std::fs::write(&conf, config).unwrap();
        let log = archive.with_extension("log");
        let child = Command::new("pmlogger")
            .env("PCP_RUN_DIR", d.join("run"))
            .env("PCP_TMP_DIR", d.join("tmp"))
            .env("PCP_DERIVED_CONFIG", "")
            .args(["-h", &self.host(), "-c"])
            .arg(&conf)
            .arg("-l")
            .arg(&log)
            .arg(archive)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting pmlogger");
        Logger {
            child,
            log,
            archive: archive.to_path_buf(),
        }
    }
}

/// A PCP client command with derived metrics off and a system PATH.
pub fn client(program: &str) -> Command {
    let mut c = if python_tools().contains(&program) {
        let mut c = Command::new("/usr/bin/python3");
        c.arg(Path::new("/usr/bin").join(program));
        c
    } else {
        Command::new(program)
    };
    c.env("PCP_DERIVED_CONFIG", "")
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin");
    c
}

/// PCP's Python tools, run by the system's python3 (a python3 earlier on
/// PATH may lack PCP's modules).
fn python_tools() -> &'static [&'static str] {
    &["pmrep"]
}

/// True when the Python PCP tools can run (python3-pcp installed).
pub fn have_python_pcp() -> bool {
    Path::new("/usr/bin/python3").exists()
        && Path::new("/usr/bin/pmrep").exists()
        && Command::new("/usr/bin/python3")
            .args(["-c", "import pcp.pmapi"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// A running pmlogger; stopped (SIGINT, then SIGKILL) on [`Logger::stop`]
/// or drop.
#[derive(Debug)]
pub struct Logger {
    child: Child,
    /// Its log file.
    pub log: PathBuf,
    /// The archive it writes.
    pub archive: PathBuf,
}

impl Logger {
    /// Stops pmlogger (it flushes and closes the archive on SIGINT) and
    /// returns its log.
    pub fn stop(&mut self) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether pmlogger still runs (it exits when it cannot revalidate
    /// its metrics after an agent restarts).
    pub fn running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// The archive path as a string, for `-a`.
    pub fn archive_arg(&self) -> String {
        self.archive.to_string_lossy().into_owned()
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pids whose parent is `pid` (from /proc/*/stat).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out.sort_unstable();
    out
}

/// Resident memory of a process in KiB (VmRSS), if it is alive.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Polls `check` every 100 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The numbers of a pmval/pmrep report: the last field of lines that start
/// with a space or a digit (values and time-stamped rows), where numeric.
pub fn report_numbers(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(' ') || l.starts_with(|c: char| c.is_ascii_digit()))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect()
}

/// One metric of `pminfo -dfm...` output: its first line and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The metric name.
    pub name: String,
    /// Every line of the block, the first included.
    pub lines: Vec<String>,
}

/// Splits pminfo output into per-metric blocks (separated by blank lines).
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    for chunk in text.split("\n\n") {
        let lines: Vec<String> = chunk
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let Some(first) = lines.first() else {
            continue;
        };
        let name = first.split_whitespace().next().unwrap_or("").to_string();
        out.push(Block { name, lines });
    }
    out
}

/// A redis-server (Debian's) on a free 127.0.0.1 port, with no
/// persistence, killed on drop.
#[derive(Debug)]
pub struct Redis {
    /// Its port.
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The redis-server binary.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

impl Redis {
    /// Starts redis-server and waits until it accepts connections.
    pub fn start() -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("pcp-agent-redis")
            .tempdir()
            .expect("scratch directory");
        let port = free_port();
        let child = Command::new(REDIS_SERVER)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
            ])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        let r = Redis {
            port,
            child,
            _dir: dir,
        };
        assert!(
            wait_until(Duration::from_secs(10), || redis_ping(port)),
            "redis-server did not start"
        );
        r
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn a_free_port() -> u16 {
    free_port()
}

/// True when redis on 127.0.0.1:`port` answers PING with PONG.
fn redis_ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .map(|n| buf[..n].starts_with(b"+PONG"))
            .unwrap_or(false)
}
