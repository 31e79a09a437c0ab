//! Tests of a source's state: documents in, metrics, instances and values out.

use super::*;
use crate::parse::MetricType;
use pcp_core::{Semantics, Type, Units, Value};

#[test]
fn serials_round_trip() {
    for (c, i) in [
        (1, 0),
        (1, 1023),
        (5, 7),
        (4091, 1023),
        (4092, 0),
        (4095, 1023),
    ] {
        let s = indom_serial(c, i);
        assert!(s <= pcp_core::id::MAX_SERIAL);
        assert_eq!(serial_metric(s), Some((c, i)), "{c}.{i} -> {s}");
    }
    assert_eq!(indom_serial(1, 0), 5120);
    assert_eq!(serial_metric(0), None);
}

#[test]
fn url_parts_strip_credentials_and_port() {
    let (u, h) = url_parts("http://user:pw@example.com:9100/metrics?x=1");
    assert_eq!(u, "http://example.com:9100/metrics?x=1");
    assert_eq!(h, "example.com");
    let (_, h) = url_parts("https://[2001:db8::1]:443/m");
    assert_eq!(h, "2001:db8::1");
    let (_, h) = url_parts("http://localhost:3000/metrics");
    assert_eq!(h, local_hostname());
}

#[test]
fn reference_heuristics() {
    use MetricType::*;
    let c = |n, t| heuristics(n, t);
    assert_eq!(
        c("x_bucket", Some(Histogram)),
        (Semantics::Counter, Units::COUNT)
    );
    assert_eq!(
        c("x_seconds_sum", Some(Histogram)),
        (Semantics::Counter, Units::SEC)
    );
    assert_eq!(
        c("x_count", Some(Summary)),
        (Semantics::Counter, Units::COUNT)
    );
    assert_eq!(
        c("x_seconds", Some(Summary)),
        (Semantics::Instant, Units::SEC)
    );
    assert_eq!(
        c("jenkins_executor_count_value", Some(Gauge)),
        (Semantics::Counter, Units::NONE)
    );
    assert_eq!(
        c("sample_summary_count0002", None),
        (Semantics::Instant, Units::NONE)
    );
    assert_eq!(
        c("node_memory_MemFree_bytes", Some(Gauge)),
        (Semantics::Instant, Units::BYTES)
    );
    assert_eq!(
        c("requests", Some(Counter)),
        (Semantics::Counter, Units::NONE)
    );
}

#[test]
fn conversions() {
    assert_eq!(convert(Type::U32, 7.0, "7"), Some(Value::U32(7)));
    assert_eq!(convert(Type::U64, 7.0, "7.0"), Some(Value::U64(7)));
    assert_eq!(convert(Type::U64, 7.5, "7.5"), None);
    assert_eq!(convert(Type::U32, -1.0, "-1"), None);
    assert_eq!(convert(Type::I64, 1e3, "1e3"), Some(Value::I64(1000)));
}
