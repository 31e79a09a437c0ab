//! `pcp-agent pmcd` against PCP's pmcd 6.0.3 hosting the same agents:
//! fetch round trips per second for one client and for 50 clients at
//! once, and the server's memory per connection.
//!
//! `cargo bench --bench pmcd_server -- [--runs N] [--secs S] [--write]`
//!
//! Both servers run as processes of their own: ours is `pcp-agent pmcd`
//! with the linux and simple agents in process; pmcd is a private 6.0.3
//! (free port, own pmcd.conf and PMNS; the system pmcd is untouched) with
//! the same agents as pipe agents (`pcp-agent pmda linux|simple`) and its
//! own `pmcd.*` agent in process. The load comes from this process: each
//! client a thread with its own connection, speaking the protocol as
//! libpcp does (credentials, profile, HIGHRES_FETCH of the same PMIDs in a
//! loop), so the client's own cost is small and equal for both. Rounds
//! alternate ours / pmcd; each figure is the median of the runs with the
//! minimum and maximum beside it. Memory per connection: the growth of
//! the server's resident memory (pmcd: pmcd and its agents) when 200 more
//! clients connect and fetch once, divided by 200. With `--write`, the
//! table goes to pmcd-server-BENCHMARKS.md.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcp_agent::agents::AgentOptions;
use pcp_core::pdu::frame::read_pdu;
use pcp_core::pdu::*;
use pcp_core::{Pmid, Profile};

const BIN: &str = env!("CARGO_BIN_EXE_pcp-agent");
const PMCD: &str = "/usr/lib/pcp/bin/pmcd";
const IDLE_CONNECTIONS: usize = 200;

/// What is fetched: a label and the metric names.
const WORKLOADS: &[(&str, &[&str])] = &[
    (
        "the server's own metric (pmcd.numagents)",
        &["pmcd.numagents"],
    ),
    ("one agent value (simple.numfetch)", &["simple.numfetch"]),
    (
        "linux, vmstat-like set (20 metrics)",
        &[
            "kernel.all.load",
            "kernel.all.cpu.user",
            "kernel.all.cpu.nice",
            "kernel.all.cpu.sys",
            "kernel.all.cpu.idle",
            "kernel.all.cpu.wait.total",
            "kernel.all.cpu.steal",
            "kernel.all.pswitch",
            "kernel.all.intr",
            "kernel.all.running",
            "kernel.all.blocked",
            "mem.util.free",
            "mem.util.bufmem",
            "mem.util.cached",
            "mem.vmstat.pgpgin",
            "mem.vmstat.pgpgout",
            "mem.vmstat.pswpin",
            "mem.vmstat.pswpout",
            "swap.used",
            "disk.all.read",
        ],
    ),
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A server process (and its children, for pmcd), stopped on drop.
struct Server {
    name: &'static str,
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ours(dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["--agents", "linux,simple", "--state-dir"])
        .arg(dir.join("ours-state"))
        .args(["pmcd", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--max-connections", "400"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pcp-agent pmcd");
    wait_port(port, "pcp-agent pmcd");
    Server {
        name: "pcp-agent pmcd",
        child,
        port,
    }
}

fn pmcd(dir: &Path) -> Server {
    let d = dir.join("pmcd");
    for sub in ["run", "log", "tmp", "var/config/pmda", "simple", "linux"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["linux".into()];
    opts.state_dir = Some(d.join("roots"));
    let linux = opts.build_agent("linux").expect("the linux agent");
    let pmcd_names = std::fs::read_to_string("/usr/lib/pcp/pmns/root_pmcd").expect("PCP's PMNS");
    let mut root = String::from("root {\n\tpmcd\n\tsimple\t253:*:*\n");
    for n in linux.namespace().top_level() {
        root.push_str(&format!("\t{n}\t60:*:*\n"));
    }
    root.push_str("}\n");
    root.push_str(
        pmcd_names
            .find("#ifndef PMCD")
            .map_or("", |i| &pmcd_names[i..]),
    );
    std::fs::write(d.join("root"), root).unwrap();
    let conf = format!(
        "pmcd\t2\tdso\tpmcd_init\t/var/lib/pcp/pmdas/pmcd/pmda_pmcd.so\n\
         simple\t253\tpipe\tbinary\t{BIN} --state-dir {s} pmda simple\n\
         linux\t60\tpipe\tbinary\t{BIN} --state-dir {l} --agents linux pmda linux\n\n\
         [access]\nallow \".*\" : all;\nallow \":*\" : all;\n",
        s = d.join("simple").display(),
        l = d.join("linux").display()
    );
    std::fs::write(d.join("pmcd.conf"), conf).unwrap();
    let port = free_port();
    let child = Command::new(PMCD)
        .env("PCP_VAR_DIR", d.join("var"))
        .env("PCP_TMP_DIR", d.join("tmp"))
        .env("PCP_RUN_DIR", d.join("run"))
        .env("PCP_LOG_DIR", d.join("log"))
        .env("PMCD_ROOT_AGENT", "0")
        .env("PMCD_RESTART_AGENTS", "0")
        .args(["-f", "-A", "-U", "root", "-c"])
        .arg(d.join("pmcd.conf"))
        .arg("-n")
        .arg(d.join("root"))
        .args(["-p", &port.to_string(), "-s"])
        .arg(d.join("sock"))
        .arg("-l")
        .arg(d.join("pmcd.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pmcd");
    wait_port(port, "pmcd");
    Server {
        name: "pmcd 6.0.3",
        child,
        port,
    }
}

/// A client connection past the handshake, with a profile sent.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = Vec::new();
        read_pdu(&mut s, &mut buf, 1 << 20)
            .unwrap_or_else(|e| panic!("no acknowledgement from port {port}: {e}"))
            .expect("acknowledgement");
        let mut out = Vec::new();
        let enc = Encoder::default();
        enc.encode(
            &Pdu::Creds(CredsPdu::version(0)),
            std::process::id(),
            &mut out,
        );
        enc.encode(
            &Pdu::Profile(ProfilePdu::from_profile(0, &Profile::all())),
            0,
            &mut out,
        );
        s.write_all(&out).unwrap();
        Conn { s, buf, out }
    }

    fn ask(&mut self, pdu: &Pdu) -> Pdu {
        self.out.clear();
        Encoder::default().encode(pdu, 0, &mut self.out);
        self.s.write_all(&self.out).unwrap();
        read_pdu(&mut self.s, &mut self.buf, 64 << 20)
            .unwrap()
            .expect("reply");
        decode(&self.buf).expect("reply decodes").1
    }

    fn lookup(&mut self, names: &[&str]) -> Vec<Pmid> {
        let req = Pdu::PmnsNames(PmnsNamesPdu {
            names: names.iter().map(|n| n.as_bytes().to_vec()).collect(),
            status: None,
        });
        match self.ask(&req) {
            Pdu::PmnsIds(ids) if ids.status == names.len() as i32 => ids.pmids,
            other => panic!("looking up {names:?}: {other:?}"),
        }
    }

    /// Sends prepared fetch bytes; reads to the result (skipping any
    /// state-change notice before it).
    fn fetch(&mut self, req: &[u8]) {
        self.s.write_all(req).unwrap();
        loop {
            read_pdu(&mut self.s, &mut self.buf, 64 << 20)
                .unwrap()
                .expect("reply");
            let ty = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
            if ty != types::ERROR {
                assert_eq!(ty, types::HIGHRES_RESULT);
                return;
            }
        }
    }
}

/// Fetches per second of `clients` connections fetching `names` for `secs`.
/// The connections are opened one after another first (pmcd accepts one
/// client at a time, with a listen backlog of 5), then all fetch at once.
fn rate(port: u16, names: &[&str], clients: usize, secs: f64) -> f64 {
    let conns: Vec<(Conn, Vec<u8>)> = (0..clients)
        .map(|_| {
            let mut c = Conn::open(port);
            let pmids = c.lookup(names);
            let mut req = Vec::new();
            Encoder::default().encode(&Pdu::HighResFetch(FetchPdu { ctx: 0, pmids }), 0, &mut req);
            c.fetch(&req);
            (c, req)
        })
        .collect();
    let start = std::sync::Arc::new(std::sync::Barrier::new(clients + 1));
    let threads: Vec<_> = conns
        .into_iter()
        .map(|(mut c, req)| {
            let start = std::sync::Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let t = Instant::now();
                let mut n = 0u64;
                while t.elapsed().as_secs_f64() < secs {
                    c.fetch(&req);
                    n += 1;
                }
                n as f64 / t.elapsed().as_secs_f64()
            })
        })
        .collect();
    start.wait();
    threads.into_iter().map(|t| t.join().unwrap()).sum()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory of `pid` and every process below it.
fn tree_rss_kib(pid: u32) -> u64 {
    let mut total = rss_kib(pid);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let ppid = std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok())
                });
            if ppid == Some(pid) {
                total += tree_rss_kib(child);
            }
        }
    }
    total
}

/// KiB of server memory per extra connection.
fn memory_per_connection(server: &Server) -> f64 {
    // Warm up: every workload once, so caches the first clients fill exist.
    for (_, names) in WORKLOADS {
        rate(server.port, names, 1, 0.05);
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = tree_rss_kib(server.child.id());
    let mut conns: Vec<Conn> = (0..IDLE_CONNECTIONS)
        .map(|_| Conn::open(server.port))
        .collect();
    let names = WORKLOADS[2].1;
    for c in conns.iter_mut() {
        let pmids = c.lookup(names);
        let mut req = Vec::new();
        Encoder::default().encode(&Pdu::HighResFetch(FetchPdu { ctx: 0, pmids }), 0, &mut req);
        c.fetch(&req);
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = tree_rss_kib(server.child.id());
    drop(conns);
    after.saturating_sub(before) as f64 / IDLE_CONNECTIONS as f64
}

/// Median, minimum and maximum.
fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn fmt(v: &[f64], digits: usize) -> String {
    let (m, lo, hi) = summary(v);
    format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: f64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let runs = value("--runs", 3.0) as usize;
    let secs = value("--secs", 2.0);
    let write = args.iter().any(|a| a == "--write");
    if !Path::new(PMCD).exists() {
        eprintln!("pmcd_server bench: {PMCD} is missing (package pcp); nothing measured");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ours = ours(dir.path());
    let theirs = pmcd(dir.path());
    let servers = [&ours, &theirs];
    eprintln!("ours on port {}, pmcd on port {}", ours.port, theirs.port);
    // rates[workload][clients index][server] -> per run
    let clients = [1usize, 50];
    let mut rates = vec![vec![[Vec::new(), Vec::new()]; clients.len()]; WORKLOADS.len()];
    let mut ratios = vec![vec![Vec::new(); clients.len()]; WORKLOADS.len()];
    let mut memory = [Vec::new(), Vec::new()];
    for run in 0..runs {
        for (w, (label, names)) in WORKLOADS.iter().enumerate() {
            for (k, &n) in clients.iter().enumerate() {
                let mut pair = [0.0; 2];
                // Alternate which server goes first.
                let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
                for s in order {
                    pair[s] = rate(servers[s].port, names, n, secs);
                    rates[w][k][s].push(pair[s]);
                }
                ratios[w][k].push(pair[0] / pair[1]);
                eprintln!(
                    "run {}: {label}, {n} client(s): ours {:.0}/s, pmcd {:.0}/s",
                    run + 1,
                    pair[0],
                    pair[1]
                );
            }
        }
        for (s, server) in servers.iter().enumerate() {
            let kib = memory_per_connection(server);
            eprintln!(
                "run {}: {}: {kib:.1} KiB per connection",
                run + 1,
                server.name
            );
            memory[s].push(kib);
        }
    }
    let mut out = String::new();
    out.push_str(
        "| workload | clients | fetches/s pcp-agent pmcd | fetches/s pmcd 6.0.3 | ratio |\n|---|---|---|---|---|\n",
    );
    for (w, (label, _)) in WORKLOADS.iter().enumerate() {
        for (k, n) in clients.iter().enumerate() {
            out.push_str(&format!(
                "| {label} | {n} | {} | {} | {}x |\n",
                fmt(&rates[w][k][0], 0),
                fmt(&rates[w][k][1], 0),
                fmt(&ratios[w][k], 2)
            ));
        }
    }
    out.push_str(&format!(
        "\n| memory per connection ({IDLE_CONNECTIONS} clients) | pcp-agent pmcd | pmcd 6.0.3 (pmcd and its agents) |\n|---|---|---|\n| KiB | {} | {} |\n",
        fmt(&memory[0], 1),
        fmt(&memory[1], 1)
    ));
    println!("{out}");
    // One line per row for scripts/bench-summary.sh (lists: one value per run).
    for (w, (label, _)) in WORKLOADS.iter().enumerate() {
        for (k, n) in clients.iter().enumerate() {
            println!(
                "SUMMARY {}",
                serde_json::json!({
                    "group": format!("pmcd-server-{w}-{n}"),
                    "what": format!("`pcp-agent pmcd` vs pmcd 6.0.3, same agents: {label}, {n} client(s)"),
                    "ours": rates[w][k][0],
                    "unit": "fetches/s",
                    "ref": "pmcd 6.0.3 (agents as pipe PMDAs)",
                    "ref_value": rates[w][k][1],
                    "ratio": ratios[w][k],
                    "ratio_text": "x the fetch rate",
                    "note": "",
                })
            );
        }
    }
    if write {
        write_file(&out, runs, secs);
    }
}

fn write_file(table: &str, runs: usize, secs: f64) {
    let date = Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let text = format!(
        "# pcp-agent pmcd against pmcd 6.0.3: fetch round trips and memory\n\n\
         `cargo bench --bench pmcd_server -- --runs {runs} --secs {secs} --write`, {date}, on the\n\
         project machine (2 cores, shared with other work: absolute rates move; the ratios,\n\
         measured within each run, are what to compare). Each figure is the median of {runs}\n\
         runs, the minimum and maximum in brackets.\n\n\
         Both servers are processes of their own and host the same agents: `pcp-agent pmcd`\n\
         runs our linux and simple agents in process (and its `pmcd.*` agent); a private pmcd\n\
         6.0.3 (own port, pmcd.conf and PMNS; the system pmcd is untouched) runs the same two\n\
         agents as pipe agents (`pcp-agent pmda linux|simple`) and its own `pmcd.*` agent as\n\
         a DSO. The load comes from the bench process: each client a thread with its own\n\
         connection speaking the protocol as libpcp does (credentials, profile, then\n\
         HIGHRES_FETCH of the same PMIDs in a loop, {secs} s per measurement), the order of\n\
         the two servers alternating between runs. A fetch through pmcd to a pipe agent is\n\
         two round trips (client to pmcd, pmcd to the agent); through ours, one, the agent\n\
         being called in process. pmcd serves clients one request at a time on one thread;\n\
         ours answers each client on its own thread (agents still serve one fetch at a\n\
         time each).\n\n\
         {table}\n\
         Memory per connection is the growth of resident memory (VmRSS; for pmcd, pmcd plus\n\
         its agent processes) when {IDLE_CONNECTIONS} more clients connect, send a profile and\n\
         fetch the vmstat-like set once, divided by {IDLE_CONNECTIONS}. Ours keeps per\n\
         connection a thread (its stack touched only as deep as a request goes), a read buffer\n\
         of up to 64 KiB (pages touched only as far as PDUs reach) and the client's profiles.\n"
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pmcd-server-BENCHMARKS.md");
    std::fs::write(&path, text).expect("writing the benchmark file");
    eprintln!("wrote {}", path.display());
}
