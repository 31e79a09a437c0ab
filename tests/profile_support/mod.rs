//! Shared by the profiler tests: the known workloads (built by the test
//! with gcc, g++ and rustc, each spinning in one named hot function), the
//! requirements (root, bpftrace, Go's pprof), and `go tool pprof` helpers.
#![allow(dead_code)]

pub mod cgroup;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Checks what the profiler tests need; false (skip) outside CI when
/// something is missing.
pub fn requirements() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    pcp_core::testing::require("root", root, "bpftrace needs root")
        && pcp_core::testing::require(
            "bpftrace",
            pcp_core::testing::have_program("bpftrace"),
            "bpftrace is not installed (scripts/setup-systems.sh installs it)",
        )
        && pcp_core::testing::require(
            "go",
            pcp_core::testing::have_program("go"),
            "Go's pprof is not installed (golang-go; scripts/setup-systems.sh installs it)",
        )
        && pcp_core::testing::require(
            "gcc",
            pcp_core::testing::have_program("gcc") && pcp_core::testing::have_program("g++"),
            "gcc and g++ are not installed",
        )
}

/// One workload: the program and what its hot function is called in a
/// profile.
#[derive(Debug)]
pub struct Workload {
    /// Short name (also the target's service_name).
    pub name: &'static str,
    /// The executable.
    pub path: PathBuf,
    /// The hot function as `--demangle simplified` shows it (a prefix for
    /// the stripped copy: `hot-c-stripped+0x`).
    pub hot: &'static str,
}

const C_SRC: &str = r#"
__attribute__((noinline)) unsigned long hot_c_spin(unsigned long n) {
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < n; i++) x += i * i;
    return x;
}
int main(void) { unsigned long t = 0; for (;;) t += hot_c_spin(50000000UL); return (int)t; }
"#;

const CPP_SRC: &str = r#"
namespace hotns {
template <typename T> struct Spinner {
    __attribute__((noinline)) static T spin(T n) {
        volatile T x = 0;
        for (T i = 0; i < n; i++) x += i * i;
        return x;
    }
};
}
int main() { unsigned long t = 0; for (;;) t += hotns::Spinner<unsigned long>::spin(50000000UL); return (int)t; }
"#;

const RUST_SRC: &str = r#"
mod burner {
    #[inline(never)]
    pub fn spin_the_cpu(n: u64) -> u64 {
        let mut x = 0u64;
        for i in 0..n {
            x = x.wrapping_add(std::hint::black_box(i).wrapping_mul(i));
        }
        x
    }
}
fn main() {
    let mut t = 0u64;
    loop {
        t = t.wrapping_add(burner::spin_the_cpu(std::hint::black_box(50_000_000)));
        if t == 1 { println!("{t}"); }
    }
}
"#;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the workloads into `dir`: C, its stripped copy, a stripped copy
/// whose symbols are in a separate debug file named by its debug link,
/// one whose debug file is found by build id under `dir/debug`, C++, Rust with legacy and with v0 symbol mangling. All keep frame
/// pointers.
pub fn build_workloads(dir: &Path) -> Vec<Workload> {
    build_some(
        dir,
        &[
            "c",
            "stripped",
            "debuglink",
            "buildid",
            "cpp",
            "rustlegacy",
            "rustv0",
        ],
    )
}

/// The workloads of `build_workloads` named in `names`.
pub fn build_some(dir: &Path, names: &[&str]) -> Vec<Workload> {
    let want = |n: &str| names.contains(&n);
    std::fs::write(dir.join("hot.c"), C_SRC).unwrap();
    std::fs::write(dir.join("hot.cpp"), CPP_SRC).unwrap();
    std::fs::write(dir.join("hot.rs"), RUST_SRC).unwrap();
    let mut all = Vec::new();
    let c = dir.join("hot-c");
    if want("c") || want("stripped") {
        run(Command::new("gcc")
            .args(["-O1", "-fno-omit-frame-pointer", "-o"])
            .arg(&c)
            .arg(dir.join("hot.c")));
        all.push(Workload {
            name: "c",
            path: c.clone(),
            hot: "hot_c_spin",
        });
    }
    if want("stripped") {
        let stripped = dir.join("hot-c-stripped");
        run(Command::new("strip").arg("-o").arg(&stripped).arg(&c));
        all.push(Workload {
            name: "stripped",
            path: stripped,
            hot: "hot-c-stripped+0x",
        });
    }
    if want("debuglink") {
        // As distributions ship binaries: stripped, with a .gnu_debuglink
        // to the debug file beside it (`objcopy --only-keep-debug`).
        let full = dir.join("hot-c-g");
        // DWARF 4 (the build-id workload has 5), so that the two builds
        // get different build ids.
        run(Command::new("gcc")
            .args(["-gdwarf-4", "-O1", "-fno-omit-frame-pointer", "-o"])
            .arg(&full)
            .arg(dir.join("hot.c")));
        run(Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(&full)
            .arg(dir.join("hot-c-g.debug")));
        let linked = dir.join("hot-c-debuglink");
        run(Command::new("strip").arg("-o").arg(&linked).arg(&full));
        run(Command::new("objcopy")
            .arg("--add-gnu-debuglink=hot-c-g.debug")
            .arg(&linked)
            .current_dir(dir));
        all.push(Workload {
            name: "debuglink",
            path: linked,
            hot: "hot_c_spin",
        });
    }
    if want("buildid") {
        // Stripped, its debug file under DIR/debug/.build-id/ab/cdef.debug
        // (as Debian's -dbgsym packages install them; the test passes
        // --debug-dir DIR/debug) and no debug link.
        let full = dir.join("hot-c-bid");
        run(Command::new("gcc")
            .args([
                "-g",
                "-O1",
                "-fno-omit-frame-pointer",
                "-Wl,--build-id",
                "-o",
            ])
            .arg(&full)
            .arg(dir.join("hot.c")));
        let notes = Command::new("readelf")
            .arg("-n")
            .arg(&full)
            .output()
            .unwrap();
        let notes = String::from_utf8_lossy(&notes.stdout);
        let id = notes
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .expect("gcc wrote a build id")
            .trim()
            .to_string();
        let sub = dir.join("debug/.build-id").join(&id[..2]);
        std::fs::create_dir_all(&sub).unwrap();
        run(Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(&full)
            .arg(sub.join(format!("{}.debug", &id[2..]))));
        let stripped = dir.join("hot-c-buildid");
        run(Command::new("strip").arg("-o").arg(&stripped).arg(&full));
        all.push(Workload {
            name: "buildid",
            path: stripped,
            hot: "hot_c_spin",
        });
    }
    if want("cpp") {
        let cpp = dir.join("hot-cpp");
        run(Command::new("g++")
            .args(["-O1", "-fno-omit-frame-pointer", "-o"])
            .arg(&cpp)
            .arg(dir.join("hot.cpp")));
        all.push(Workload {
            name: "cpp",
            path: cpp,
            hot: "hotns::Spinner::spin",
        });
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // Legacy mangling is stable Rust's default; v0 is asked for.
    for (mangling, name, file) in [
        (None, "rustlegacy", "hot-rust-legacy"),
        (Some("v0"), "rustv0", "hot-rust-v0"),
    ] {
        if !want(name) {
            continue;
        }
        let out = dir.join(file);
        let mut cmd = Command::new(&rustc);
        cmd.args(["-O", "-C", "force-frame-pointers=yes"]);
        if let Some(m) = mangling {
            cmd.arg("-C").arg(format!("symbol-mangling-version={m}"));
        }
        run(cmd.arg("-o").arg(&out).arg(dir.join("hot.rs")));
        all.push(Workload {
            name,
            path: out,
            hot: "hot::burner::spin_the_cpu",
        });
    }
    all
}

/// Running workloads, killed on drop.
#[derive(Debug)]
pub struct Running(pub Vec<Child>);

impl Running {
    /// Starts each workload at the lowest priority (`nice -n 19`, which
    /// execs it: same pid), so that spinning workloads slow neither the
    /// profiler nor the rest of the test suite; they still take every
    /// idle cycle.
    pub fn start(w: &[Workload]) -> Running {
        Running(
            w.iter()
                .map(|w| {
                    Command::new("nice")
                        .args(["-n", "19"])
                        .arg(&w.path)
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap_or_else(|e| panic!("{}: {e}", w.path.display()))
                })
                .collect(),
        )
    }

    /// The pid of the `i`th.
    pub fn pid(&self, i: usize) -> u32 {
        self.0[i].id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `go tool pprof ARGS`: (stdout, stderr, success).
pub fn pprof(args: &[&str], files: &[&Path]) -> (String, String, bool) {
    let out = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .args(files)
        .env("PPROF_TMPDIR", std::env::temp_dir())
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("go tool pprof runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// The function of the first row of `go tool pprof -top` (the largest
/// flat value).
pub fn top_entry(top: &str) -> Option<String> {
    let mut rows = top
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"));
    rows.next()?;
    let row = rows.next()?;
    // flat flat% sum% cum cum% NAME (NAME may hold spaces)
    let fields: Vec<&str> = row.split_whitespace().collect();
    (fields.len() >= 6).then(|| fields[5..].join(" "))
}

/// The sum of the first sample value column of `go tool pprof -raw`.
pub fn raw_total(raw: &str) -> i64 {
    let mut total = 0;
    let mut in_samples = false;
    for line in raw.lines() {
        if line.starts_with("Samples:") {
            in_samples = true;
            continue;
        }
        if line.starts_with("Locations") {
            break;
        }
        if !in_samples {
            continue;
        }
        // "  COUNT  NS: LOC LOC ..." rows; label rows hold no ':' before
        // their first field.
        if let Some((vals, _)) = line.split_once(':') {
            if let Some(first) = vals.split_whitespace().next() {
                if let Ok(n) = first.parse::<i64>() {
                    total += n;
                }
            }
        }
    }
    total
}

/// Runs headless Chromium on `url` with `args` (`--dump-dom`,
/// `--screenshot=...`), killed after `timeout`; returns its stdout.
pub fn chromium(
    args: &[String],
    url: &str,
    timeout: std::time::Duration,
) -> Result<String, String> {
    let profile = tempfile::Builder::new()
        .prefix("pcp-profile-chromium")
        .tempdir()
        .expect("profile dir");
    let out_path = profile.path().join("stdout");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chromium: {e}"))?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("chromium did not finish within {timeout:?}"));
            }
        }
    }
    Ok(std::fs::read_to_string(out_path).unwrap_or_default())
}

/// A GET on loopback: (status, body); status 0 if nothing listens.
pub fn http_get(addr: std::net::SocketAddr, target: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, Vec::new());
    };
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let head_end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out[head_end..].to_vec())
}
