//! PCP's own process tools through a private pmcd where this agent stands
//! at domain 3 in pmdaproc's place (PCP's pmdalinux at 60 beside it, PCP's
//! PMNS): `pminfo -f`, `pmrep` with proc metrics and the `:pidstat-r`
//! preset, `pcp ps` and `pcp pidstat` print a process the test starts
//! (its pid, command, state, memory) as /proc shows it, and the same
//! columns as the same commands against the system pmcd's pmdaproc.
//! Figures that move with time (rates, CPU, a resident set counted per
//! CPU) are compared within tolerances; the rest must be equal.
//!
//! Every client goes through a pmcd's unix socket, so both agents read as
//! root (the client's credentials).

#[path = "../../tests/pmcd_support/mod.rs"]
mod pmcd_support;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcp_core::testing::require;
use pmcd_support::{run_bounded, PrivatePmcd, PMCD_DSO_LINE};

const PMDALINUX: &str = "/var/lib/pcp/pmdas/linux/pmdalinux";
const SYSTEM_PMNS: &str = "/var/lib/pcp/pmns/root";
const PCP_PS: &str = "/usr/lib/pcp/bin/pcp-ps";
const PCP_PIDSTAT: &str = "/usr/lib/pcp/bin/pcp-pidstat";

/// The pcp-agent binary of this build (built here when missing: this
/// crate's tests cannot name another package's binary).
fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
    let bin = profile_dir.join("pcp-agent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-q", "-p", "pcp-agent", "--bin", "pcp-agent"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        build.env("CARGO_TARGET_DIR", target);
    }
    let status = build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo to build pcp-agent");
    assert!(status.success(), "building pcp-agent failed");
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

/// True (or a skip, or under CI a failure) when pmcd, pmdalinux, PCP's
/// PMNS, the Python tools and the system pmcd's pmdaproc are all here.
fn have_everything(why: &str) -> bool {
    pmcd_support::require_pmcd(why)
        && require(
            "pmdalinux",
            Path::new(PMDALINUX).exists() && Path::new(SYSTEM_PMNS).exists(),
            "PCP's linux agent and PMNS beside ours",
        )
        && pmcd_support::require_pmrep(why)
        && require(
            "pcp-ps and pcp-pidstat",
            Path::new(PCP_PS).exists() && Path::new(PCP_PIDSTAT).exists(),
            "PCP's process tools (package pcp)",
        )
        && support::have_pmdaproc()
}

/// A private pmcd: pmcd's own agent, PCP's pmdalinux at 60 and ours at 3,
/// under PCP's installed PMNS (whose proc names are pmdaproc's, ours).
fn ours_at_domain_3() -> PrivatePmcd {
    let root = std::fs::read_to_string(SYSTEM_PMNS).unwrap();
    let bin = agent_binary();
    let p = PrivatePmcd::start_with(
        &[
            PMCD_DSO_LINE.to_string(),
            format!("linux\t60\tpipe\tbinary\t{PMDALINUX} -d 60"),
            format!("proc\t3\tpipe\tbinary\t{} pmda proc -d 3", bin.display()),
        ],
        &root,
        &[],
    );
    assert!(
        p.wait_for("proc.psinfo", Duration::from_secs(20)),
        "{}",
        p.log()
    );
    let ours = p.agent_pids().into_iter().any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.contains("pcp-agent"))
    });
    assert!(ours, "our agent is not pmcd's child:\n{}", p.log());
    p
}

/// A process for the tools to show: `sleep 600`, past its exec.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep");
        let s = Sleeper(child);
        // Its command line, not only its name: the kernel sets the name
        // during exec a moment before it records where the arguments lie,
        // and an agent naming the process then would name it `(sleep)`.
        let cmdline = format!("/proc/{}/cmdline", s.pid());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read(&cmdline).unwrap_or_default() != b"sleep\x00600\x00" {
            assert!(Instant::now() < deadline, "sleep did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        s
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// pmdaproc's instance name: `NNNNNN sleep`.
    fn instance(&self) -> String {
        format!("{:06} sleep", self.pid())
    }

    /// The scheduling priority in /proc/PID/stat (the 18th field).
    fn priority(&self) -> String {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        after.split_whitespace().nth(15).unwrap().to_string()
    }

    /// What /proc says: (state letter, VmRSS kB, VmSize kB).
    fn proc_view(&self) -> (String, u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |key: &str| -> String {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        (
            field("State:"),
            field("VmRSS:").parse().unwrap(),
            field("VmSize:").parse().unwrap(),
        )
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A PCP client aimed at `host`, with the system's PATH (PCP's Python
/// tools need the python3 that has PCP's modules) and PCP's derived
/// metrics as installed (the presets use them).
fn tool(program: &str, host: &str) -> Command {
    let mut c = Command::new(program);
    c.env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .arg("-h")
        .arg(host);
    c
}

fn run(cmd: &mut Command) -> String {
    let mut out = run_bounded(cmd, Duration::from_secs(60));
    // pcp-ps 6.0.3 dies (a TypeError on a missing value) when any process
    // on the machine exits between its instance list and its fetch, with
    // either agent; other work on this machine starts and ends processes
    // all the time. A few tries get a listing without one.
    for _ in 0..5 {
        if out.status.success()
            || !String::from_utf8_lossy(&out.stderr).contains("TypeError: 'NoneType'")
        {
            break;
        }
        out = run_bounded(cmd, Duration::from_secs(60));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `unix:SOCKET` of the system pmcd and of the private one.
fn hosts(p: &PrivatePmcd) -> [(&'static str, String); 2] {
    [("ours", p.unix_host()), ("pmdaproc", support::pmcd_host())]
}

/// True when two numbers are within `rel` of each other (relative to the
/// larger) or `abs` apart.
fn close(a: &str, b: &str, rel: f64, abs: f64) -> bool {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= abs || (x - y).abs() <= rel * x.abs().max(y.abs()),
        _ => false,
    }
}

/// How two tools' columns must agree: equal, numbers within a relative
/// or absolute tolerance, or not at all where pmdaproc 6.0.3 is wrong
/// (the column is checked against /proc instead).
#[derive(Debug, Clone, Copy)]
enum Agree {
    Equal,
    Near(f64, f64),
    #[allow(dead_code)] // The reason is for the reader.
    PmdaprocWrong(&'static str),
}

fn compare(
    what: &str,
    header: &[&str],
    ours: &[String],
    theirs: &[String],
    rules: &[(&str, Agree)],
) {
    assert_eq!(ours.len(), theirs.len(), "{what}: {ours:?} vs {theirs:?}");
    let mut problems = Vec::new();
    for (i, col) in header.iter().enumerate() {
        let rule = rules
            .iter()
            .find(|(c, _)| c == col)
            .map_or(Agree::Equal, |r| r.1);
        let ok = match rule {
            Agree::Equal => ours[i] == theirs[i],
            Agree::Near(rel, abs) => close(&ours[i], &theirs[i], rel, abs),
            Agree::PmdaprocWrong(_) => true,
        };
        if !ok {
            problems.push(format!(
                "{col}: ours {:?}, pmdaproc {:?}",
                ours[i], theirs[i]
            ));
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// The resident set a tool printed is /proc's, within what passes while
/// the two are read (the kernel counts it per CPU) and both ways.
fn sane_rss(what: &str, printed: &str, proc_kb: u64) {
    let v: f64 = printed
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what}: {printed:?}"));
    let want = proc_kb as f64;
    assert!(
        v > 0.0 && (v - want).abs() <= 0.25 * want,
        "{what}: RSS {v} kB, /proc says {want} kB"
    );
}

#[test]
fn pminfo_fetches_the_process_as_proc_and_pmdaproc_show_it() {
    if !have_everything("pminfo through pmcd with ours at domain 3") {
        return;
    }
    let sleeper = Sleeper::start();
    let p = ours_at_domain_3();
    let names: Vec<String> = [
        "proc.psinfo.pid",
        "proc.psinfo.cmd",
        "proc.psinfo.sname",
        "proc.psinfo.psargs",
        "proc.psinfo.ppid",
        "proc.psinfo.vsize",
        "proc.psinfo.rss",
        "proc.psinfo.utime",
        "proc.psinfo.wchan_s",
        "proc.memory.vmrss",
        "proc.memory.size",
        "proc.id.uid",
        "proc.id.uid_nm",
        "proc.io.rchar",
        "proc.fd.count",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut shown: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (who, host) in hosts(&p) {
        let out = run(tool("pminfo", &host).arg("-f").args(&names));
        let parsed = support::parse(&out);
        let mut values = BTreeMap::new();
        for n in &names {
            let m = parsed
                .get(n)
                .unwrap_or_else(|| panic!("{who}: no {n} in\n{out}"));
            let (iname, v) = m
                .values
                .get(&sleeper.pid())
                .unwrap_or_else(|| panic!("{who}: {n} has no value for {}", sleeper.pid()));
            assert_eq!(iname, &sleeper.instance(), "{who}: {n}");
            values.insert(n.clone(), v.trim_matches('"').to_string());
        }
        shown.insert(who, values);
    }
    let (state, rss_kb, size_kb) = sleeper.proc_view();
    let ours = &shown["ours"];
    assert_eq!(ours["proc.psinfo.pid"], sleeper.pid().to_string());
    assert_eq!(ours["proc.psinfo.cmd"], "sleep");
    assert_eq!(ours["proc.psinfo.psargs"], "sleep 600");
    assert_eq!(ours["proc.psinfo.sname"], state);
    assert_eq!(ours["proc.psinfo.ppid"], std::process::id().to_string());
    assert_eq!(ours["proc.memory.size"], size_kb.to_string());
    assert_eq!(ours["proc.id.uid_nm"], "root");
    sane_rss("proc.memory.vmrss", &ours["proc.memory.vmrss"], rss_kb);
    sane_rss("proc.psinfo.rss", &ours["proc.psinfo.rss"], rss_kb);
    let theirs = &shown["pmdaproc"];
    for n in &names {
        let (a, b) = (&ours[n], &theirs[n]);
        let ok = match n.as_str() {
            // Counted per CPU by the kernel: moves between two reads.
            "proc.psinfo.rss" | "proc.memory.vmrss" => close(a, b, 0.25, 0.0),
            // pminfo's own reads of the process (none: it is not ours to
            // read), but a sleeping process still wakes now and then.
            "proc.psinfo.utime" => close(a, b, 0.0, 10.0),
            _ => a == b,
        };
        assert!(ok, "{n}: ours {a:?}, pmdaproc {b:?}");
    }
}

#[test]
fn pmrep_prints_the_process_as_pmdaproc_does() {
    if !have_everything("pmrep through pmcd with ours at domain 3") {
        return;
    }
    let sleeper = Sleeper::start();
    let p = ours_at_domain_3();
    let instance = format!("{:06}.*", sleeper.pid());
    let (_, rss_kb, size_kb) = sleeper.proc_view();

    // PCP's pidstat presets (rates need two samples; the second line is
    // compared): CPU use (UID, rates of user, system and guest time, the
    // wait share from schedstat, the CPU last run on) and memory (fault
    // rates, VSZ, RSS, %MEM with hinv.physmem from pmdalinux).
    let cpu_header = [
        "uid", "%usr", "%system", "%guest", "%wait", "%CPU", "CPU", "Command",
    ];
    let cpu_rules = [
        ("%usr", Agree::Near(0.0, 1.0)),
        ("%system", Agree::Near(0.0, 1.0)),
        ("%guest", Agree::Near(0.0, 1.0)),
        ("%wait", Agree::Near(0.0, 1.0)),
        ("%CPU", Agree::Near(0.0, 1.0)),
        // A sleeping process's wake-ups may move it between the reads.
        ("CPU", Agree::Near(0.0, f64::INFINITY)),
    ];
    let mem_header = [
        "uid", "minflt/s", "majflt/s", "VSZ", "RSS", "%MEM", "Command",
    ];
    let mem_rules = [
        ("minflt/s", Agree::Near(0.0, 1.0)),
        ("majflt/s", Agree::Near(0.0, 1.0)),
        ("RSS", Agree::Near(0.25, 0.0)),
        ("%MEM", Agree::Near(0.0, 0.02)),
    ];
    for (preset, header, rules) in [
        (":pidstat", &cpu_header[..], &cpu_rules[..]),
        (":pidstat-r", &mem_header[..], &mem_rules[..]),
    ] {
        let mut rows = Vec::new();
        for (who, host) in hosts(&p) {
            let out =
                run(tool("/usr/bin/pmrep", &host)
                    .args(["-s", "2", "-t", "1", "-i", &instance, preset]));
            let last = out
                .lines()
                .rev()
                .find(|l| l.contains(&format!("{:06}", sleeper.pid())))
                .unwrap_or_else(|| panic!("{who}: no row for the process in\n{out}"));
            // time, instance (pid and the command's first letters), then
            // the columns.
            let f: Vec<String> = last.split_whitespace().map(str::to_string).collect();
            assert!(f.len() >= 3 + header.len(), "{who} {preset}: {last:?}");
            let cols = f[f.len() - header.len()..].to_vec();
            assert_eq!(cols[0], "0", "{who} {preset}: {last:?}");
            assert_eq!(cols[header.len() - 1], "sleep", "{who} {preset}: {last:?}");
            if preset == ":pidstat-r" {
                assert_eq!(cols[3], size_kb.to_string(), "{who}: VSZ in {last:?}");
                sane_rss(&format!("{who} pmrep RSS"), &cols[4], rss_kb);
            }
            rows.push(cols);
        }
        compare(
            &format!("pmrep {preset}"),
            header,
            &rows[0],
            &rows[1],
            rules,
        );
    }

    // pmrep with proc metrics named on the command line, raw values.
    let metrics = [
        "proc.psinfo.pid",
        "proc.psinfo.sname",
        "proc.psinfo.ppid",
        "proc.memory.vmsize",
        "proc.memory.vmrss",
        "proc.id.uid_nm",
        "proc.psinfo.cmd",
    ];
    let mut rows = Vec::new();
    for (who, host) in hosts(&p) {
        let out = run(tool("/usr/bin/pmrep", &host)
            .args(["-s", "1", "-r", "-H", "-U", "-I", "-i", &instance])
            .args(metrics));
        let line = out
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("{who}: empty pmrep output"));
        let f: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        assert!(f.len() >= metrics.len(), "{who}: {line:?}");
        let cols = f[f.len() - metrics.len()..].to_vec();
        assert_eq!(cols[0], sleeper.pid().to_string(), "{who}: {line:?}");
        assert_eq!(cols[2], std::process::id().to_string(), "{who}: {line:?}");
        assert_eq!(cols[6], "sleep", "{who}: {line:?}");
        rows.push(cols);
    }
    compare(
        "pmrep proc metrics",
        &metrics,
        &rows[0],
        &rows[1],
        &[("proc.memory.vmrss", Agree::Near(0.25, 0.0))],
    );
}

/// The row of `pcp ps -o all` for `pid`, as its columns.
fn ps_row(out: &str, pid: u32) -> Vec<String> {
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 13 || f[1].trim() != pid.to_string() {
            continue;
        }
        // The first field is the time stamp and the user.
        let user = f[0].split_whitespace().last().unwrap_or("").to_string();
        let mut row = vec![user];
        row.extend(f[1..].iter().map(|s| s.trim().to_string()));
        return row;
    }
    panic!("no row for {pid} in\n{out}");
}

#[test]
fn pcp_ps_and_pcp_pidstat_print_the_process_as_pmdaproc_does() {
    if !have_everything("pcp ps and pcp pidstat through pmcd with ours at domain 3") {
        return;
    }
    let sleeper = Sleeper::start();
    let p = ours_at_domain_3();
    let (state, rss_kb, size_kb) = sleeper.proc_view();

    let header = [
        "USER", "PID", "PPID", "PRI", "%CPU", "%MEM", "VSZ", "RSS", "S", "STARTED", "TIME",
        "WCHAN", "Command",
    ];
    let mut rows = Vec::new();
    for (who, host) in hosts(&p) {
        let out = run(tool("/usr/bin/pcp", &host).args(["ps", "-o", "all"]));
        let row = ps_row(&out, sleeper.pid());
        assert_eq!(row.len(), header.len(), "{who}: {row:?}");
        assert_eq!(row[0], "root", "{who}: {row:?}");
        assert_eq!(row[2], std::process::id().to_string(), "{who}: {row:?}");
        if who == "ours" {
            assert_eq!(row[3], sleeper.priority(), "{who}: PRI {row:?}");
        }
        assert_eq!(row[6], size_kb.to_string(), "{who}: VSZ {row:?}");
        sane_rss(&format!("{who} pcp ps RSS"), &row[7], rss_kb);
        assert_eq!(row[8], state, "{who}: {row:?}");
        assert_eq!(row[12], "sleep 600", "{who}: {row:?}");
        rows.push(row);
    }
    compare(
        "pcp ps -o all",
        &header,
        &rows[0],
        &rows[1],
        &[
            (
                "PRI",
                Agree::PmdaprocWrong(
                    "proc.psinfo.priority: pmdaproc reads the stat field after it (rt_priority)",
                ),
            ),
            ("%CPU", Agree::Near(0.0, 0.5)),
            ("%MEM", Agree::Near(0.0, 0.02)),
            ("RSS", Agree::Near(0.25, 0.0)),
        ],
    );

    // pcp pidstat: CPU use (two samples a second apart), then memory.
    for (flags, header, rules) in [
        (
            &[][..],
            &[
                "UID", "PID", "usr", "system", "guest", "%CPU", "CPU", "Command",
            ][..],
            &[
                ("usr", Agree::Near(0.0, 1.0)),
                ("system", Agree::Near(0.0, 1.0)),
                ("guest", Agree::Near(0.0, 1.0)),
                ("%CPU", Agree::Near(0.0, 1.0)),
                // The CPU it last ran on: a sleeping process's wake-ups
                // may move it between the two reads.
                ("CPU", Agree::Near(0.0, f64::INFINITY)),
            ][..],
        ),
        (
            &["-r"][..],
            &[
                "UID", "PID", "MinFlt/s", "MajFlt/s", "VSize", "RSS", "%Mem", "Command",
            ][..],
            &[
                ("MinFlt/s", Agree::Near(0.0, 1.0)),
                ("MajFlt/s", Agree::Near(0.0, 1.0)),
                ("RSS", Agree::Near(0.25, 0.0)),
                ("%Mem", Agree::Near(0.0, 0.02)),
            ][..],
        ),
    ] {
        let mut rows = Vec::new();
        for (who, host) in hosts(&p) {
            let out = run(tool("/usr/bin/pcp", &host)
                .args([
                    "pidstat",
                    "-p",
                    &sleeper.pid().to_string(),
                    "-t",
                    "1",
                    "-s",
                    "2",
                ])
                .args(flags));
            let line = out
                .lines()
                .rev()
                .find(|l| {
                    l.split('\t')
                        .nth(1)
                        .is_some_and(|f| f.trim() == sleeper.pid().to_string())
                })
                .unwrap_or_else(|| panic!("{who}: no row for the process in\n{out}"));
            let mut f: Vec<String> = line
                .split('\t')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            // The first field is the time stamp and the UID.
            f[0] = f[0].split_whitespace().last().unwrap_or("").to_string();
            assert_eq!(f.len(), header.len(), "{who} pidstat {flags:?}: {line:?}");
            assert_eq!(f[0], "0", "{who}: {line:?}");
            assert_eq!(f[header.len() - 1], "sleep", "{who}: {line:?}");
            if let Some(i) = header.iter().position(|h| *h == "RSS") {
                sane_rss(&format!("{who} pcp pidstat RSS"), &f[i], rss_kb);
                assert_eq!(f[i - 1], size_kb.to_string(), "{who}: VSize {line:?}");
            }
            rows.push(f);
        }
        compare(
            &format!("pcp pidstat {flags:?}"),
            header,
            &rows[0],
            &rows[1],
            rules,
        );
    }
}
