//! Fuzzes the profiler's input side: bpftrace's JSON output lines
//! (`parse::parse_line`) and every stack key they hold (`parse::parse_key`,
//! in each key layout), then folds what parsed into a profile and encodes
//! it as pprof, checking that the pprof holds what was added.
//!
//! `cargo +nightly fuzz run profile_stacks` (from this directory).
#![no_main]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use pcp_profile::model::{Frame, Function, Profile, ProfileKind};
use pcp_profile::parse::{parse_key, parse_line, Line};
use pcp_profile::script::KeyLayout;

fuzz_target!(|data: &[u8]| {
    let mut p = Profile::new(
        ProfileKind::Cpu,
        "fuzz",
        vec![],
        SystemTime::UNIX_EPOCH,
        Duration::from_secs(1),
        1,
    );
    let mut added = 0i64;
    for line in data.split(|&b| b == b'\n') {
        let Ok(Some(Line::Keyed(_, kv))) = parse_line(line) else {
            continue;
        };
        for (key, value) in kv {
            for (kernel, user) in [(true, true), (true, false), (false, true)] {
                let Ok(k) = parse_key(&key, KeyLayout { kernel, user }) else {
                    continue;
                };
                let frames: Vec<Frame> = k
                    .kernel
                    .iter()
                    .map(|f| f.addr)
                    .chain(k.user.iter().copied())
                    .map(|a| Frame {
                        address: a,
                        function: Arc::new(Function {
                            name: format!("{a:x}"),
                            system_name: String::new(),
                            filename: String::new(),
                        }),
                        line: 0,
                        mapping: None,
                    })
                    .collect();
                let v = value.clamp(0, 1 << 40);
                p.add(&frames, k.pid, &Arc::from(k.comm.as_str()), v);
                added += v;
            }
        }
    }
    assert_eq!(p.total(), added);
    let m = pcp_profile::pprof::decode(&pcp_profile::pprof::encode_gzip(&p)).unwrap();
    assert_eq!(m.sample.iter().map(|s| s.value[0]).sum::<i64>(), added);
    let _ = pcp_profile::flame::folded(&p);
});
