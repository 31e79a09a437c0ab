//! Perfdata lines per second: read through Nagios's default template and
//! parsed (every item: label, value, unit, ranges, min/max), and ingested
//! into the agent's store, against a plain line-splitting baseline in the
//! same run (split the line on tabs, the perfdata field on spaces, each
//! item at its `=`: what a converter does before it interprets anything).
//! Neither Telegraf's nagios input nor nagflux publishes a throughput
//! figure, so the baseline is the reference.
//!
//! Three runs, each the best of 5 passes over 100,000 lines; prints each
//! run, the median and the range, as the table in BENCHMARKS.md.
//!
//! Run: `cargo bench -p pmda-nagios --bench perfdata`.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use pmda_nagios::output::PluginOutput;
use pmda_nagios::perfdata;
use pmda_nagios::store::{NewResult, SeriesKey, Store};
use pmda_nagios::template::Template;

const LINES: usize = 100_000;
const PASSES: usize = 5;
const RUNS: usize = 3;

const SAMPLES: &[(&str, &str, &str)] = &[
    (
        "Current Load",
        "LOAD OK - total load average: 1.39, 1.29, 0.89",
        "load1=1.390;5.000;10.000;0; load5=1.290;4.000;8.000;0; load15=0.890;3.000;6.000;0;",
    ),
    (
        "Root Partition",
        "DISK OK - free space: / 71845MiB (77% inode=97%);",
        "/=22237151232B;216442024755;243497277849;0;270552530944",
    ),
    (
        "Current Users",
        "USERS OK - 0 users currently logged in",
        "users=0;5;10;0",
    ),
    (
        "Total Processes",
        "PROCS OK: 95 processes",
        "procs=95;250;400;0;",
    ),
    (
        "PING",
        "PING OK - Packet loss = 0%, RTA = 0.05 ms",
        "rta=0.050000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0",
    ),
    (
        "HTTP",
        "HTTP OK: HTTP/1.1 200 OK - 10975 bytes in 0.001 second response time",
        "time=0.001057s;;;0.000000;10.000000 size=10975B;;;0",
    ),
    (
        "Swap Usage",
        "SWAP OK - 100% free (2047 MB out of 2047 MB)",
        "swap=2147479552B;429496729;214748364;0;2147479552",
    ),
    (
        "Disk C",
        "c:\\ - total: 99.45 Gb - used: 65.51 Gb (66%)",
        "'C:\\ Used Space'=65.51Gb;79.56;89.51;0.00;99.45 'C:\\ Label'=1",
    ),
];

fn lines() -> String {
    let mut s = String::with_capacity(LINES * 200);
    for i in 0..LINES {
        let (svc, out, perf) = SAMPLES[i % SAMPLES.len()];
        let host = format!("host{:03}", (i / SAMPLES.len()) % 500);
        s.push_str(&format!(
            "[SERVICEPERFDATA]\t{}\t{host}\t{svc}\t0.012\t0.101\t{out}\t{perf}\n",
            1_700_000_000 + i
        ));
    }
    s
}

fn baseline(text: &str) -> usize {
    let mut n = 0;
    for line in text.lines() {
        let perf = line.rsplit('\t').next().unwrap_or("");
        for item in perf.split_whitespace() {
            if let Some((l, v)) = item.split_once('=') {
                n += l.len() + v.len();
            }
        }
    }
    n
}

fn parse(text: &str, t: &Template) -> usize {
    let mut n = 0;
    for line in text.lines() {
        let Ok(r) = t.read(line) else { continue };
        let out = PluginOutput::split(r.output);
        for p in out.perfdata.iter().copied().chain([r.perfdata]) {
            for it in perfdata::parse(p).flatten() {
                n += it.label.len() + it.value.is_some() as usize;
            }
        }
    }
    n
}

fn ingest(text: &str, t: &Template, store: &mut Store) -> usize {
    let mut n = 0;
    for line in text.lines() {
        let Ok(r) = t.read(line) else { continue };
        store.record(NewResult {
            key: SeriesKey {
                source: "bench".into(),
                service: r.service.map(str::to_string),
                host_checks: false,
            },
            host: r.host,
            state: r.state,
            output: r.output,
            extra_perfdata: r.perfdata,
            exec_time: r.exec_time,
            latency: r.latency,
            when: SystemTime::now(),
            regex_values: Vec::new(),
        });
        n += 1;
    }
    n
}

fn best(mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..PASSES {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    LINES as f64 / best
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let text = lines();
    let t = Template::nagios_service();
    let mut rows: [Vec<f64>; 5] = Default::default();
    for run in 1..=RUNS {
        let base = best(|| baseline(&text));
        let ours = best(|| parse(&text, &t));
        let mut store = Store::default();
        let ing = best(|| ingest(&text, &t, &mut store));
        println!(
            "run {run}: baseline {:.0} lines/s, parse {:.0} lines/s ({:.2}x), ingest {:.0} lines/s ({:.2}x)",
            base,
            ours,
            ours / base,
            ing,
            ing / base
        );
        for (i, v) in [base, ours, ing, ours / base, ing / base]
            .into_iter()
            .enumerate()
        {
            rows[i].push(v);
        }
    }
    let names = [
        "baseline: split lines, fields and items (lines/s)",
        "parse: template, output, every perfdata item (lines/s)",
        "ingest: parse and record into the store (lines/s)",
        "parse / baseline",
        "ingest / baseline",
    ];
    println!("\n| what | median | min–max |\n|---|---:|---:|");
    for (name, v) in names.iter().zip(rows.iter().cloned()) {
        let (m, lo, hi) = median(v);
        if name.contains('/') && !name.contains("lines/s") {
            println!("| {name} | {m:.2}x | {lo:.2}x–{hi:.2}x |");
        } else {
            println!("| {name} | {m:.0} | {lo:.0}–{hi:.0} |");
        }
    }
    // One line per measure for scripts/bench-summary.sh (lists: one value
    // per run; the ratio against the baseline of the same run).
    for (group, what, i) in [
        (
            "nagios-parse",
            "Nagios perfdata lines: parsed (template, output, every perfdata item)",
            1,
        ),
        (
            "nagios-ingest",
            "Nagios perfdata lines: parsed and recorded into the store",
            2,
        ),
    ] {
        println!(
            "SUMMARY {{\"group\":\"{group}\",\"what\":\"{what}\",\"ours\":{:?},\"unit\":\"lines/s\",\"ref\":\"baseline: split lines, fields and items\",\"ref_value\":{:?},\"ratio\":{:?},\"ratio_text\":\"x the baseline's rate\",\"note\":\"{LINES} lines\"}}",
            rows[i], rows[0], rows[i + 2]
        );
    }
}
