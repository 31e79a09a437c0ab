//! Tests of the config directory: source names, scans, `.url` keywords
//! and filters.

use super::*;
use pcp_core::{Semantics, Type, Units};
use std::os::unix::fs::PermissionsExt;

#[test]
fn source_names_as_the_reference() {
    assert_eq!(source_name(Path::new("a/b/c.url")), "a.b.c");
    assert_eq!(
        source_name(Path::new("multiple.namespace.levels.sh")),
        "multiple.namespace.levels"
    );
    assert_eq!(source_name(Path::new("script")), "script");
    assert_eq!(source_name(Path::new("curl/script.sh")), "curl.script");
    assert_eq!(
        source_name(Path::new("mysource/latency/get.url")),
        "mysource.latency.get"
    );
    assert!(valid_source_name("a.b_c"));
    assert!(!valid_source_name("1a"));
    assert!(!valid_source_name("a-b"));
    assert!(!valid_source_name("a..b"));
    assert!(!valid_source_name("a."));
}

#[test]
fn scan_classifies_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = |p: &str, text: &str, mode: u32| {
        let path = d.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    w("node.url", "http://x/metrics\n", 0o644);
    w("README", "docs\n", 0o644);
    w("notes.txt", "x\n", 0o644);
    w(".hidden.url", "http://x\n", 0o644);
    w("local/system.sh", "#!/bin/sh\n", 0o755);
    w("exec.url", "#!/bin/sh\n", 0o755);
    w("control.url", "http://x\n", 0o644);
    w("bad-name.url", "http://x\n", 0o644);
    w("a/b.url", "http://x\n", 0o644);
    w("a/b/c.url", "http://x\n", 0o644);
    w("dup.url", "http://x\n", 0o644);
    w("dup.sh", "#!/bin/sh\n", 0o755);
    w(".d/inner.url", "http://x\n", 0o644);
    let s = scan(d, false);
    let got: Vec<(&str, SourceKind)> = s
        .sources
        .iter()
        .map(|f| (f.name.as_str(), f.kind))
        .collect();
    assert_eq!(
        got,
        [
            (".d.inner", SourceKind::Url),
            ("a.b", SourceKind::Url),
            ("dup", SourceKind::Script),
            ("exec", SourceKind::Script),
            ("local.system", SourceKind::Script),
            ("node", SourceKind::Url),
        ]
        .into_iter()
        .filter(|(n, _)| valid_source_name(n))
        .collect::<Vec<_>>()
    );
    let errs = s.errors.join("\n");
    assert!(errs.contains("\"control\" is reserved"), "{errs}");
    assert!(errs.contains("\"bad-name\" is unsuitable"), "{errs}");
    assert!(errs.contains("\"a.b.c\" overlaps source \"a.b\""), "{errs}");
    assert!(errs.contains("\"dup\" overlaps source \"dup\""), "{errs}");
}

#[test]
fn url_file_keywords() {
    let text = "http://localhost:3000/metrics\r\n\r\n# comment\r\n\
HEADER: Authorization: Bearer abc:def\r\n\
HEADER: Some header: has: colons: and spaces in: it!!!!!!\r\n\
FILTER: EXCLUDE METRIC job:rate:.*\r\n\
FILTER: INCLUDE METRIC .*\r\n\
FILTER: OPTIONAL LABEL hostname\r\n\
FILTER: EXCLUDE LABEL instance$\r\n\
FILTER: INCLUDE .*\r\n\
FILTER: EXCLUDE\r\n\
METADATA: grafana_api_response_status_total  u32 response   counter  count\r\n\
METADATA: temp_.* double PM_INDOM_NULL instant none\r\n\
LABEL: team=\"infra\"\r\n\
TIMEOUT: 0.5\r\n\
DEADLINE: 0.25\r\n\
MIN_INTERVAL: 10\r\n\
DEADLINE: -1\r\n\
BOGUS: x\r\n";
    let c = UrlConfig::parse(text);
    assert_eq!(c.url, "http://localhost:3000/metrics");
    assert_eq!(
        c.headers,
        [
            ("Authorization".to_string(), "Bearer abc:def".to_string()),
            (
                "Someheader".to_string(),
                "has: colons: and spaces in: it!!!!!!".to_string()
            )
        ]
    );
    assert_eq!(c.metric_action("job:rate:5m"), FilterAction::Exclude);
    assert_eq!(c.metric_action("other"), FilterAction::Include);
    assert_eq!(c.label_action("hostname"), FilterAction::Optional);
    assert_eq!(c.label_action("instance"), FilterAction::Exclude);
    assert_eq!(c.label_action("instance2"), FilterAction::Include);
    let m = c.metadata_for("grafana_api_response_status_total").unwrap();
    assert_eq!(
        (m.ty, m.singular, m.sem, m.units),
        (Type::U32, false, Semantics::Counter, Units::COUNT)
    );
    assert!(c.metadata_for("temp_cpu").unwrap().singular);
    assert_eq!(c.labels, [("team".to_string(), "infra".to_string())]);
    assert_eq!(c.timeout, Some(std::time::Duration::from_millis(500)));
    assert_eq!(c.deadline, Some(std::time::Duration::from_millis(250)));
    assert_eq!(c.min_interval, Some(std::time::Duration::from_secs(10)));
    assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
    assert!(c.warnings[2].contains("DEADLINE: -1"), "{:?}", c.warnings);
    assert!(c.warnings[3].contains("BOGUS"));
}

#[test]
fn comments_before_the_url_are_allowed() {
    let c =
        UrlConfig::parse("# vmware exporter\n\nhttp://h:9272/metrics\nFILTER: EXCLUDE METRIC a\n");
    assert_eq!(c.url, "http://h:9272/metrics");
    assert_eq!(c.metric_filters.len(), 1);
}

#[test]
fn first_matching_filter_wins_and_match_is_prefix() {
    let c = UrlConfig::parse(
        "file:///x\nFILTER: INCLUDE METRIC metric1$\nFILTER: EXCLUDE METRIC metric1\n",
    );
    assert_eq!(c.metric_action("metric1"), FilterAction::Include);
    assert_eq!(c.metric_action("metric10"), FilterAction::Exclude);
    assert_eq!(c.metric_action("xmetric1"), FilterAction::Include);
}
