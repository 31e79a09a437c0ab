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

/// True when pmcd and the client tools are installed; outside CI a test
/// that needs them returns early when this is false.
pub fn require_pmcd(why: &str) -> bool {
    let have = Path::new(PMCD).exists()
        && pcp_core::testing::have_program("pminfo")
        && pcp_core::testing::have_program("pmval");
    pcp_core::testing::require("pmcd", have, why)
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
        let dir = tempfile::Builder::new()
            .prefix("pcp-agent-pmcd")
            .tempdir()
            .expect("scratch directory");
        let d = dir.path();
        for sub in ["run", "log", "pmns"] {
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
        let mut root = String::from("root {\n");
        for e in root_entries {
            root.push('\t');
            root.push_str(e);
            root.push('\n');
        }
        root.push_str("}\n");
        std::fs::write(pmns_dir.join("root"), root).unwrap();
        let port = free_port();
        let socket = d.join("pmcd.socket");
        let child = Command::new(PMCD)
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
        while !pcp_core::testing::port_open(&p.host()) {
            assert!(
                Instant::now() < deadline,
                "private pmcd did not start:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
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
            let out = self.run(self.tool("pminfo").arg(name));
            let text = String::from_utf8_lossy(&out.stdout);
            let below = format!("{name}.");
            if out.status.success()
                && !text.contains("Error")
                && text.lines().any(|l| l.starts_with(&below))
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

impl Drop for PrivatePmcd {
    fn drop(&mut self) {
        // SIGTERM lets pmcd close its agents' pipes; they exit on EOF.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
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
