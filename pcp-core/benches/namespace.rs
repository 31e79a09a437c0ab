//! Namespace cost for 100,000 names: building the tree, name -> PMID and
//! PMID -> name lookups, against a plain HashMap<String, Pmid> measured in
//! the same run as the reference.
//!
//! Run: `cargo bench -p pcp-core --bench namespace`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use pcp_core::{Namespace, Pmid};

const N: u32 = 100_000;

fn names() -> Vec<(String, Pmid)> {
    (0..N)
        .map(|i| {
            let name = format!("bench.group{}.sub{}.metric{}", i / 1000, (i / 100) % 10, i);
            (name, Pmid::new(400, i / 1024, i % 1024).unwrap())
        })
        .collect()
}

fn per_op(total: std::time::Duration, ops: u32) -> f64 {
    total.as_nanos() as f64 / ops as f64
}

fn main() {
    let list = names();
    let t = Instant::now();
    let mut ns = Namespace::new();
    for (n, p) in &list {
        ns.insert(n, *p).unwrap();
    }
    let build = t.elapsed();
    let t = Instant::now();
    let mut map = HashMap::new();
    for (n, p) in &list {
        map.insert(n.clone(), *p);
    }
    let build_ref = t.elapsed();

    let rounds = 5;
    let t = Instant::now();
    for _ in 0..rounds {
        for (n, _) in &list {
            black_box(ns.lookup(black_box(n)));
        }
    }
    let lookup = t.elapsed();
    let t = Instant::now();
    for _ in 0..rounds {
        for (n, _) in &list {
            black_box(map.get(black_box(n.as_str())));
        }
    }
    let lookup_ref = t.elapsed();
    let t = Instant::now();
    for _ in 0..rounds {
        for (_, p) in &list {
            black_box(ns.name_of(black_box(*p)));
        }
    }
    let reverse = t.elapsed();
    let t = Instant::now();
    let leaves = ns.traverse("").unwrap().len();
    let traverse = t.elapsed();
    assert_eq!(leaves, N as usize);

    println!("namespace of {N} names");
    println!(
        "  build            {:8.1} ns/name   (HashMap {:6.1} ns/name, ratio {:.2}x)",
        per_op(build, N),
        per_op(build_ref, N),
        build.as_secs_f64() / build_ref.as_secs_f64()
    );
    println!(
        "  name -> PMID     {:8.1} ns/lookup (HashMap {:6.1} ns/lookup, ratio {:.2}x)",
        per_op(lookup, N * rounds),
        per_op(lookup_ref, N * rounds),
        lookup.as_secs_f64() / lookup_ref.as_secs_f64()
    );
    println!(
        "  PMID -> name     {:8.1} ns/lookup",
        per_op(reverse, N * rounds)
    );
    println!("  traverse all     {:8.2} ms", traverse.as_secs_f64() * 1e3);
    summary(
        "namespace-build",
        "namespace of 100,000 names: build",
        per_op(build, N),
        "ns/name",
        per_op(build_ref, N),
        build.as_secs_f64() / build_ref.as_secs_f64(),
        &format!("traverse all {:.1} ms", traverse.as_secs_f64() * 1e3),
    );
    summary(
        "namespace-lookup",
        "namespace of 100,000 names: name -> PMID",
        per_op(lookup, N * rounds),
        "ns/lookup",
        per_op(lookup_ref, N * rounds),
        lookup.as_secs_f64() / lookup_ref.as_secs_f64(),
        &format!("PMID -> name {:.1} ns", per_op(reverse, N * rounds)),
    );
}

/// One `SUMMARY {json}` line for `scripts/bench-summary.sh`: ours against
/// a `HashMap<String, Pmid>` measured in the same run.
fn summary(group: &str, what: &str, ours: f64, unit: &str, reference: f64, ratio: f64, note: &str) {
    println!(
        "SUMMARY {{\"group\":{group:?},\"what\":{what:?},\"ours\":{ours},\"unit\":{unit:?},\"ref\":\"HashMap<String, Pmid>\",\"ref_value\":{reference},\"ratio\":{ratio},\"ratio_text\":\"x its time\",\"note\":{note:?}}}"
    );
}
