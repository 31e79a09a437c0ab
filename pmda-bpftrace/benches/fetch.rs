//! Agent-side time of one fetch of a running script's maps, in process:
//! what the PDU loop asks the agent for each FETCH PDU (the agent's
//! `fetch` of every metric, then a descriptor per metric to check types
//! and the instance profile), without the pipe and pmcd.
//!
//! Two real bpftrace scripts (root and bpftrace needed):
//! - small: `tracepoint:raw_syscalls:sys_enter { @calls[comm] = count();
//!   @all = count(); }` (the pmcd benchmark's first bpftrace row);
//! - realistic: `profile:hz:997 { @k[rand % 1000] = count(); @h =
//!   hist(rand % 100000); }` (1,000 keys and a histogram).
//!
//! `cargo bench -p pmda-bpftrace --bench fetch [-- SECONDS]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use pcp_core::{ClientContext, FetchRequest, Pmda, Pmid, Profile, Value, PM_IN_NULL};
use pmda_bpftrace::{BpftraceConfig, BpftracePmda};

const SCRIPTS: [(&str, &str, &[&str]); 2] = [
    (
        "small",
        "tracepoint:raw_syscalls:sys_enter { @calls[comm] = count(); @all = count(); }",
        &["calls", "all"],
    ),
    (
        "realistic",
        "profile:hz:997 { @k[rand % 1000] = count(); @h = hist(rand % 100000); }",
        &["k", "h"],
    ),
];

fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2.0);
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 || !pcp_core::testing::have_program("bpftrace") {
        println!("fetch bench: needs root and bpftrace, skipped");
        return;
    }
    let conf = std::env::temp_dir().join(format!("bpftrace-fetch-bench-{}", std::process::id()));
    if std::fs::write(
        &conf,
        "[dynamic_scripts]\nenabled = true\nauth_enabled = false\n",
    )
    .is_err()
    {
        println!("fetch bench: cannot write {}", conf.display());
        return;
    }
    let agent = pmda_bpftrace::bpftrace_pmda(BpftraceConfig {
        config_file: Some(conf.clone()),
        ..Default::default()
    });
    let _ = std::fs::remove_file(&conf);
    let mut agent = match agent {
        Ok(a) => a,
        Err(e) => {
            println!("fetch bench: {e}");
            return;
        }
    };
    let client = ClientContext::default();
    let Some(reg) = agent.namespace().lookup("bpftrace.control.register") else {
        println!("fetch bench: no bpftrace.control.register");
        return;
    };
    for (name, code, _) in SCRIPTS {
        let code = format!("// name: {name}\n{code}");
        if let Err(e) = agent.store(reg, &[(PM_IN_NULL, Value::String(code))], &client) {
            println!("fetch bench: registering {name}: {e:?}");
            return;
        }
    }
    agent.wait_ready(Duration::from_secs(20));
    // Let the 1,000-key map fill.
    std::thread::sleep(Duration::from_secs(3));
    agent.refresh_namespace();
    let profile = Profile::all();
    for (name, _, vars) in SCRIPTS {
        let pmids: Vec<Pmid> = vars
            .iter()
            .filter_map(|v| {
                agent
                    .namespace()
                    .lookup(&format!("bpftrace.scripts.{name}.data.{v}"))
            })
            .collect();
        if pmids.len() != vars.len() {
            println!("fetch bench: script {name}: maps missing");
            continue;
        }
        let req = FetchRequest {
            pmids: &pmids,
            profile: &profile,
            client: &client,
        };
        let one = |agent: &mut BpftracePmda| {
            let r = agent.fetch(black_box(&req));
            let mut n = 0;
            for (p, v) in pmids.iter().zip(&r) {
                black_box(agent.desc(*p).ok());
                n += v.as_ref().map_or(0, Vec::len);
            }
            n
        };
        let values = one(&mut agent);
        // Interleaved rounds on a shared machine: keep the best.
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < Duration::from_secs_f64(secs / 3.0) {
                black_box(one(&mut agent));
                n += 1;
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        println!(
            "{name:<10} {} maps, {values:>5} values: {best:>7.2} us per fetch (agent fetch + desc per metric)",
            pmids.len()
        );
    }
}
