//! Fuzzes the bpftrace side: the script analyser (`code::analyse`, over
//! code a client registers) and the JSON output parser (`event::parse_line`)
//! feeding a script's data (`ScriptData::apply`), then reading every metric
//! back as the agent's fetch and instance requests do.
//!
//! Input: script code, a NUL byte, then bpftrace's output lines (no NUL:
//! the whole input is output, for a script with a few typical maps).
//!
//! `cargo +nightly fuzz run bpftrace_events` (from this directory).
#![no_main]

use std::collections::HashSet;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pcp_core::{Desc, IdCache, Instance, Value, PM_IN_NULL};
use pmda_bpftrace::code::{analyse, CodeInfo};
use pmda_bpftrace::data::{ScriptData, FIRST_DATA_ITEM, LAST_DATA_ITEM};
use pmda_bpftrace::event::parse_line;

const DEFAULT: &str = "kprobe:vfs_read { @reads[comm] = count(); @bytes = hist(arg2); \
                       @st = stats(arg2); @s[pid] = str(arg1); @lat = lhist(arg2, 0, 100, 10); \
                       printf(\"x\\n\"); }";

/// What pmcd relies on: a singular metric has at most one value, for
/// `PM_IN_NULL`; a metric with an instance domain has values only for
/// instances the domain lists, at most one each, and the domain's ids and
/// names are unique.
fn check(desc: &Desc, values: &[(u32, Value)], insts: Option<&[Instance]>) {
    if desc.indom.is_null() {
        assert!(values.len() <= 1, "{desc:?}: {} values", values.len());
        assert!(
            values.iter().all(|&(i, _)| i == PM_IN_NULL),
            "{desc:?}: {values:?}"
        );
        return;
    }
    let insts = insts.unwrap_or(&[]);
    let ids: HashSet<u32> = insts.iter().map(|i| i.id).collect();
    assert_eq!(
        ids.len(),
        insts.len(),
        "{desc:?}: duplicate instance ids {insts:?}"
    );
    let names: HashSet<&str> = insts.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names.len(),
        insts.len(),
        "{desc:?}: duplicate instance names {insts:?}"
    );
    let mut seen = HashSet::new();
    for (i, _) in values {
        assert!(
            ids.contains(i),
            "{desc:?}: value for instance {i} not in {insts:?}"
        );
        assert!(seen.insert(*i), "{desc:?}: two values for instance {i}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (code, output) = match data.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (DEFAULT.to_string(), data),
    };
    let info: CodeInfo = match analyse(&code) {
        Ok(info) => info,
        Err(_) => analyse(DEFAULT).expect("default script analyses"),
    };
    let mut d = ScriptData::new(
        151,
        100,
        Arc::new(info),
        IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM),
        4096,
    );
    for line in output.split(|&b| b == b'\n') {
        if let Ok(Some(ev)) = parse_line(line) {
            let _ = d.apply(ev);
        }
    }
    for (_, pmid) in d.names() {
        let item = pmid.item();
        let Some((desc, _, _)) = d.desc(item) else {
            continue;
        };
        let insts = if desc.indom.is_null() {
            None
        } else {
            d.instances(desc.indom.serial())
        };
        if let Ok(values) = d.fetch(item) {
            check(&desc, &values, insts.as_deref());
        }
    }
    let _ = d.has_data();
});
