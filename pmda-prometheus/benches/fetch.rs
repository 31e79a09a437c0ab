//! One fetch over many sources: 1000 `file://` sources and 100 loopback
//! HTTP sources (a keep-alive server on 127.0.0.1), wall time and CPU time
//! of the agent's fetch of one metric from every source.
//!
//! Run: `cargo bench -p pmda-prometheus --bench fetch`

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use pcp_core::Host;
use pmda_prometheus::{prometheus_pmda, PrometheusConfig};

fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn doc(i: usize) -> String {
    let mut s = String::new();
    s.push_str("# HELP requests_total Requests.\n# TYPE requests_total counter\n");
    for code in ["200", "404", "500"] {
        for m in ["get", "post"] {
            s.push_str(&format!(
                "requests_total{{code=\"{code}\",method=\"{m}\"}} {}\n",
                i * 7
            ));
        }
    }
    s.push_str("# TYPE up gauge\nup 1\n");
    for j in 0..20 {
        s.push_str(&format!("gauge_{j}{{shard=\"{i}\"}} {j}.5\n"));
    }
    s
}

fn serve(l: TcpListener) {
    for conn in l.incoming().flatten() {
        std::thread::spawn(move || {
            let mut conn = conn;
            let _ = conn.set_nodelay(true);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let req = String::from_utf8_lossy(&buf[..end]).to_string();
                buf.drain(..end);
                let i: usize = req
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.trim_start_matches("/s").parse().ok())
                    .unwrap_or(0);
                let body = doc(i);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if conn.write_all(head.as_bytes()).is_err()
                    || conn.write_all(body.as_bytes()).is_err()
                {
                    return;
                }
            }
        });
    }
}

fn run(label: &str, group: &str, dir: &std::path::Path, sources: usize, rounds: usize) {
    let agent = prometheus_pmda(PrometheusConfig {
        config_dir: dir.to_path_buf(),
        ..PrometheusConfig::default()
    })
    .unwrap();
    let mut h = Host::new();
    h.load(Box::new(agent)).unwrap();
    let pmids: Vec<_> = (0..sources)
        .map(|i| {
            h.lookup(&format!("prometheus.s{i:04}.requests_total"))
                .unwrap()
        })
        .collect();
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..rounds {
        let c = cpu_time();
        let t = Instant::now();
        let r = h.fetch(&pmids);
        walls.push(t.elapsed());
        cpus.push(cpu_time() - c);
        let ok = r.values.iter().filter(|(_, v)| v.is_ok()).count();
        assert_eq!(ok, sources, "{label}: {ok}/{sources} sources answered");
    }
    walls.sort();
    cpus.sort();
    // For scripts/bench-summary.sh: no reference, the wall time itself.
    println!(
        "SUMMARY {{\"group\":{group:?},\"what\":{:?},\"ours\":{},\"unit\":\"ms wall\",\"ref\":\"\",\"ref_value\":null,\"ratio\":null,\"note\":\"CPU {:.1} ms\"}}",
        format!("one fetch over {label}"),
        walls[rounds / 2].as_secs_f64() * 1e3,
        cpus[rounds / 2].as_secs_f64() * 1e3
    );
    println!(
        "{label:<40} wall median {:>7.1} ms (min {:>6.1})  cpu median {:>7.1} ms  ({} sources, {} rounds)",
        walls[rounds / 2].as_secs_f64() * 1e3,
        walls[0].as_secs_f64() * 1e3,
        cpus[rounds / 2].as_secs_f64() * 1e3,
        sources,
        rounds
    );
}

fn main() {
    let files = tempfile::tempdir().unwrap();
    for i in 0..1000 {
        let d = files.path().join(format!("data/{i}.txt"));
        std::fs::create_dir_all(d.parent().unwrap()).unwrap();
        std::fs::write(&d, doc(i)).unwrap();
        std::fs::write(
            files.path().join(format!("s{i:04}.url")),
            format!("file://{}\n", d.display()),
        )
        .unwrap();
    }
    run(
        "1000 file:// sources",
        "fetch-files",
        files.path(),
        1000,
        15,
    );

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || serve(l));
    let http = tempfile::tempdir().unwrap();
    for i in 0..100 {
        std::fs::write(
            http.path().join(format!("s{i:04}.url")),
            format!("http://{addr}/s{i}\n"),
        )
        .unwrap();
    }
    run(
        "100 loopback HTTP sources",
        "fetch-http",
        http.path(),
        100,
        30,
    );
}
