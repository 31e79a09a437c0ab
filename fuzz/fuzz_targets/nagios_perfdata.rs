//! Fuzzes the Nagios agent's input path: plugin output splitting, the
//! perfdata item parser (every error must name a byte offset inside the
//! text, every item must read back without panicking), perfdata file
//! lines through both default templates and the keyed one, and recording
//! into the store (the limits must hold).
//!
//! `cargo +nightly fuzz run nagios_perfdata` (from this directory).
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use pmda_nagios::output::PluginOutput;
use pmda_nagios::perfdata;
use pmda_nagios::store::{NewResult, SeriesKey, Store, MAX_PERF};
use pmda_nagios::template::Template;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = PluginOutput::split(&text);
    for p in &out.perfdata {
        for item in perfdata::parse(p) {
            match item {
                Ok(it) => {
                    assert!(!it.label.is_empty());
                    if let Some(w) = it.warn {
                        assert!(w.start <= w.end);
                    }
                }
                Err(e) => assert!(e.offset < p.len()),
            }
        }
    }
    let mut store = Store::default();
    for t in [Template::nagios_service(), Template::nagios_host(), Template::keyed()] {
        for line in text.lines() {
            if let Ok(r) = t.read(line) {
                store.record(NewResult {
                    key: SeriesKey { source: "f".into(), service: r.service.map(str::to_string), host_checks: false },
                    host: r.host,
                    state: r.state,
                    output: r.output,
                    extra_perfdata: r.perfdata,
                    exec_time: r.exec_time,
                    latency: r.latency,
                    when: SystemTime::now(),
                    regex_values: Vec::new(),
                });
            }
        }
    }
    store.record(NewResult {
        key: SeriesKey { source: "p".into(), service: None, host_checks: false },
        host: "",
        state: Some(0),
        output: &text,
        extra_perfdata: "",
        exec_time: None,
        latency: None,
        when: SystemTime::now(),
        regex_values: Vec::new(),
    });
    for s in store.series.values() {
        assert!(s.perf.len() <= MAX_PERF);
    }
});
