//! Fuzzes the Prometheus/OpenMetrics exposition path: the zero-copy
//! [`Parser`] over any text, and a source's whole `ingest` (families,
//! `# PCP`/`# PCP5` metadata, labels, filters, instances, ids) followed by
//! reading every metric back as the agent's fetch does.
//!
//! Input: optional `.url` file text, a NUL byte, then the document (no NUL:
//! the whole input is the document). Bytes that are not UTF-8 are replaced,
//! as the agent does with a scraped body.
//!
//! `cargo +nightly fuzz run prometheus_ingest` (from this directory).
#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pcp_core::{Desc, Instance, Value, PM_IN_NULL};
use pmda_prometheus::config::{SourceFile, SourceKind, UrlConfig};
use pmda_prometheus::parse::{help_text, parse_number, Line, Parser};
use pmda_prometheus::source::{Ctx, IdSource, Source};
use pmda_prometheus::Limits;

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
    pmda_prometheus::log::set_quiet(true);
    let (url, doc) = match data.iter().position(|&b| b == 0) {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let doc = String::from_utf8_lossy(doc);

    // The parser alone: every line is a value or an error, and it ends.
    let mut lines = 0usize;
    for line in Parser::new(&doc) {
        lines += 1;
        assert!(lines <= doc.len() + 1, "parser does not advance");
        match line {
            Ok(Line::Sample(s)) => {
                for (_, v) in s.labels() {
                    let _ = v.value();
                }
            }
            Ok(Line::Help { text, .. }) => {
                let _ = help_text(text);
            }
            _ => {}
        }
    }
    for word in doc.split_ascii_whitespace().take(64) {
        let _ = parse_number(word);
    }

    // A source ingesting the document twice (the second pass updates
    // existing metrics), then everything a fetch reads.
    let ctx = Ctx {
        root: "prometheus".into(),
        ids: IdSource::Memory,
        limits: Limits {
            max_body: 1 << 20,
            max_samples: 10_000,
            ..Limits::default()
        },
    };
    let file = SourceFile {
        name: "fuzz".into(),
        path: PathBuf::from("/nonexistent/fuzz.url"),
        kind: SourceKind::Url,
    };
    let src = Source::new(file, 1, &ctx);
    let mut st = src.state.lock();
    if let Some(url) = url {
        st.url = Some(Arc::new(UrlConfig::parse(&String::from_utf8_lossy(url))));
    }
    for _ in 0..2 {
        let _ = st.ingest(&doc, &src, &ctx);
        let descs: Vec<Desc> = st.metrics.iter().map(|m| m.desc).collect();
        for desc in descs {
            let item = desc.pmid.item();
            let values = st.values(item);
            let insts = st.instances(item);
            let _ = st.instance_labels(item);
            let _ = st.item_labels(item);
            check(&desc, values.as_deref().unwrap_or(&[]), insts.as_deref());
        }
    }
});
