//! Events parsed per second for one bpftrace `map` message of 100,000 keys
//! (what the appended print block emits every second for a big map).
//!
//! Compared in the same run with:
//! - `serde_json::Value` (a generic JSON DOM, the native equivalent of
//!   what the reference does with `json.loads`);
//! - pmdabpftrace's own parser function (`process_bpftrace_output` from
//!   PCP 6.0.3, run by `/usr/bin/python3`), when installed.
//!
//! `cargo bench -p pmda-bpftrace` (or `--bench parse -- KEYS SECONDS`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcp_core::IdCache;
use pmda_bpftrace::code::analyse;
use pmda_bpftrace::data::{ScriptData, FIRST_DATA_ITEM, LAST_DATA_ITEM};
use pmda_bpftrace::event::parse_line;

fn line(keys: usize) -> String {
    let mut s = String::from("{\"type\": \"map\", \"data\": {\"@m\": {");
    for i in 0..keys {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("\"{i}\": {}", i * 7 + 1));
    }
    s.push_str("}}}");
    s
}

fn rate(secs: f64, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn python_reference(line: &str, secs: f64) -> Option<f64> {
    let dir = std::path::Path::new("/var/lib/pcp/pmdas/bpftrace");
    if !dir.join("bpftrace/parser.py").exists()
        || !std::path::Path::new("/usr/bin/python3").exists()
    {
        return None;
    }
    let tmp = std::env::temp_dir().join(format!("bpftrace-bench-{}.json", std::process::id()));
    std::fs::write(&tmp, line).ok()?;
    let prog = format!(
        "import sys, time\n\
         sys.path.insert(0, {dir:?})\n\
         from bpftrace.parser import process_bpftrace_output\n\
         from bpftrace.models import Script, RuntimeInfo\n\
         s = Script('x'); r = RuntimeInfo()\n\
         line = open({tmp:?}).read()\n\
         process_bpftrace_output(r, s, line)\n\
         t = time.time(); n = 0\n\
         while time.time() - t < {secs}:\n    process_bpftrace_output(r, s, line); n += 1\n\
         print(n / (time.time() - t))\n",
        dir = dir.display().to_string(),
        tmp = tmp.display().to_string(),
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(prog)
        .output()
        .ok();
    let _ = std::fs::remove_file(&tmp);
    let out = out?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let keys: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let secs: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let text = line(keys);
    let bytes = text.as_bytes();
    println!("one map message of {keys} keys, {} bytes", bytes.len());

    // The machine is shared: measure in interleaved rounds and keep each
    // measurement's best round.
    let info = Arc::new(analyse("BEGIN { @m[1] = count(); }").unwrap());
    let mut data = ScriptData::new(
        151,
        100,
        info,
        IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM),
        1 << 20,
    );
    let (mut ours, mut full, mut fetch, mut dom, mut py) = (0f64, 0f64, 0f64, 0f64, None::<f64>);
    let round = secs / 3.0;
    for _ in 0..3 {
        ours = ours.max(rate(round, || {
            black_box(parse_line(black_box(bytes)).unwrap());
        }));
        full = full.max(rate(round, || {
            let ev = parse_line(black_box(bytes)).unwrap().unwrap();
            black_box(data.apply(ev));
        }));
        fetch = fetch.max(rate(round, || {
            black_box(data.fetch(FIRST_DATA_ITEM).unwrap());
        }));
        dom = dom.max(rate(round, || {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(bytes)).unwrap());
        }));
        if let Some(p) = python_reference(&text, round) {
            py = Some(py.map_or(p, |q: f64| q.max(p)));
        }
    }

    let row = |name: &str, r: f64| {
        println!(
            "{name:<58} {r:>9.1} events/s {:>7.2} Mkeys/s {:>8.1} MB/s",
            r * keys as f64 / 1e6,
            r * bytes.len() as f64 / 1e6
        )
    };
    row("pmda-bpftrace parse_line", ours);
    row("pmda-bpftrace parse_line + apply (ids, values)", full);
    row("pmda-bpftrace fetch of all instances", fetch);
    row("serde_json::Value (generic DOM)", dom);
    match py {
        Some(p) => {
            row("pmdabpftrace 6.0.3 process_bpftrace_output (python3)", p);
            println!("ratio parse+apply / pmdabpftrace parser: {:.1}x", full / p);
            summary(
                "bpftrace-map",
                &format!("bpftrace agent: a {keys}-key map message, parsed and applied"),
                full,
                "messages/s",
                "pmdabpftrace's own parser (Python)",
                p,
                full / p,
                "x faster",
                &format!("parser alone {:.1}x", ours / p),
            );
        }
        None => println!("pmdabpftrace's parser not installed: no reference ratio"),
    }
    println!("ratio parse_line / serde_json::Value: {:.2}x", ours / dom);
    busy_script_cpu();
}

fn cpu_seconds_self() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn proc_cpu_seconds(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / hz
}

/// One result for `scripts/bench-summary.sh`: `ratio` as `ratio_text`
/// says (strings are plain ASCII, so Rust's debug quoting is JSON's).
#[allow(clippy::too_many_arguments, dead_code)]
fn summary(
    group: &str,
    what: &str,
    ours: f64,
    unit: &str,
    reference: &str,
    ref_value: f64,
    ratio: f64,
    ratio_text: &str,
    note: &str,
) {
    println!(
        "SUMMARY {{\"group\":{group:?},\"what\":{what:?},\"ours\":{ours},\"unit\":{unit:?},\"ref\":{reference:?},\"ref_value\":{ref_value},\"ratio\":{ratio},\"ratio_text\":{ratio_text:?},\"note\":{note:?}}}"
    );
}

/// CPU the agent uses per second for a busy script: 20,000 keys printed
/// every second, fetched every second (root and bpftrace needed).
fn busy_script_cpu() {
    use pcp_core::{ClientContext, FetchRequest, Pmda, Profile, Value};
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 || !pcp_core::testing::have_program("bpftrace") {
        println!("busy script: needs root and bpftrace, skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("bpftrace-bench-conf-{}", std::process::id()));
    std::fs::write(
        &dir,
        "[dynamic_scripts]\nenabled = true\nauth_enabled = false\n",
    )
    .unwrap();
    let mut agent = pmda_bpftrace::bpftrace_pmda(pmda_bpftrace::BpftraceConfig {
        config_file: Some(dir.clone()),
        ..Default::default()
    })
    .unwrap();
    let _ = std::fs::remove_file(&dir);
    let client = ClientContext::default();
    let reg = agent
        .namespace()
        .lookup("bpftrace.control.register")
        .unwrap();
    let code = "// name: busy\nprofile:hz:999 { @k[rand % 20000] = count(); }";
    agent
        .store(
            reg,
            &[(pcp_core::PM_IN_NULL, Value::String(code.into()))],
            &client,
        )
        .unwrap();
    agent.wait_ready(Duration::from_secs(10));
    // Let the map fill up.
    std::thread::sleep(Duration::from_secs(12));
    agent.refresh_namespace();
    let data = agent
        .namespace()
        .lookup("bpftrace.scripts.busy.data.k")
        .unwrap();
    let pid_pmid = agent
        .namespace()
        .lookup("bpftrace.scripts.busy.pid")
        .unwrap();
    let profile = Profile::all();
    let fetch = |agent: &mut pmda_bpftrace::BpftracePmda, p| {
        agent.fetch(&FetchRequest {
            pmids: &[p],
            profile: &profile,
            client: &client,
        })
    };
    let pid = match fetch(&mut agent, pid_pmid).remove(0) {
        // The pid is U32, as pmdabpftrace's.
        Ok(v) => match v[0].1 {
            Value::U32(p) => p as i32,
            _ => 0,
        },
        Err(_) => 0,
    };
    let secs = 10;
    let (a0, b0, t0) = (cpu_seconds_self(), proc_cpu_seconds(pid), Instant::now());
    let mut keys = 0;
    for _ in 0..secs {
        std::thread::sleep(Duration::from_secs(1));
        keys = fetch(&mut agent, data)
            .remove(0)
            .map(|v| v.len())
            .unwrap_or(0);
    }
    let wall = t0.elapsed().as_secs_f64();
    let (a1, b1) = (cpu_seconds_self(), proc_cpu_seconds(pid));
    summary(
        "bpftrace-busy",
        "bpftrace agent: CPU for a busy script (20,000 keys printed and fetched each second), in process",
        (a1 - a0) / wall * 1000.0,
        "ms CPU/s",
        "bpftrace itself",
        (b1 - b0) / wall * 1000.0,
        ((a1 - a0) / wall) / ((b1 - b0) / wall),
        "x bpftrace's own CPU",
        "",
    );
    println!(
        "busy script ({keys} keys printed and fetched each second, {secs} s): agent {:.1} ms CPU/s, bpftrace itself {:.1} ms CPU/s",
        (a1 - a0) / wall * 1000.0,
        (b1 - b0) / wall * 1000.0
    );
}
