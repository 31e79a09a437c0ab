//! Tests of the parser, on lines bpftrace prints.

use super::*;

fn one(line: &str) -> Event<'_> {
    parse_line(line.as_bytes()).unwrap().unwrap()
}

#[test]
fn probes_and_text() {
    assert_eq!(
        one(r#"{"type": "attached_probes", "data": {"probes": 3}}"#),
        Event::AttachedProbes(3)
    );
    assert_eq!(
        one(r#"{"type": "attached_probes", "probes": 2}"#),
        Event::AttachedProbes(2),
        "bpftrace 0.9.2 layout"
    );
    assert_eq!(
        one(r#"{"type": "printf", "data": "a\tb\n"}"#),
        Event::Text(TextKind::Printf, "a\tb\n".into())
    );
    assert_eq!(
        one(r#"{"type": "value", "data": [1,"b"]}"#),
        Event::Text(TextKind::Value, "(1, b)\n".into())
    );
    assert_eq!(
        one(r#"{"type": "lost_events", "data": {"events": 12}}"#),
        Event::LostEvents(12)
    );
    assert_eq!(parse_line(b"   \n").unwrap(), None);
    assert_eq!(
        one(r#"{"type": "benchmark", "data": 1}"#),
        Event::Unknown("benchmark".into())
    );
}

#[test]
fn maps_of_every_shape() {
    assert_eq!(
        one(r#"{"type": "map", "data": {"@neg": -3}}"#),
        Event::Maps(vec![("@neg".into(), MapData::Scalar(Scalar::Int(-3)))])
    );
    assert_eq!(
        one(r#"{"type": "map", "data": {"@k": {"1": 10, "a\"b": "x"}}}"#),
        Event::Maps(vec![(
            "@k".into(),
            MapData::Keyed(vec![
                ("1".into(), Scalar::Int(10)),
                ("a\"b".into(), Scalar::Str("x".into()))
            ])
        )])
    );
    assert_eq!(
        one(r#"{"type": "map", "data": {"@t": [1,"a"]}}"#),
        Event::Maps(vec![(
            "@t".into(),
            MapData::Scalar(Scalar::Text("(1, a)".into()))
        )])
    );
    assert_eq!(
        one(r#"{"type": "map", "data": {"@u": 18446744073709551615}}"#),
        Event::Maps(vec![("@u".into(), MapData::Scalar(Scalar::UInt(u64::MAX)))])
    );
}

#[test]
fn histograms_and_stats() {
    let e = one(
        r#"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 2}, {"min": 1024, "count": 3}]}}"#,
    );
    let Event::Maps(m) = e else { panic!() };
    let MapData::Hist(b) = &m[0].1 else { panic!() };
    let names: Vec<String> = b.iter().map(Bucket::name).collect();
    assert_eq!(names, ["-inf--1", "0-0", "1024-inf"]);
    assert!(b[0].order() < b[1].order());
    let e = one(r#"{"type": "hist", "data": {"@kh": {"1": [{"min": 2, "max": 3, "count": 1}]}}}"#);
    assert!(
        matches!(&e, Event::Maps(m) if matches!(&m[0].1, MapData::KeyedHist(k) if k[0].0 == "1"))
    );
    assert_eq!(
        one(r#"{"type": "stats", "data": {"@st": {"count": 2, "average": 15, "total": 30}}}"#),
        Event::Maps(vec![(
            "@st".into(),
            MapData::Stats(Stats {
                count: 2,
                average: 15,
                total: 30
            })
        )])
    );
    assert_eq!(
        one(r#"{"type": "stats", "data": {"@av": 10}}"#),
        Event::Maps(vec![("@av".into(), MapData::Scalar(Scalar::Int(10)))])
    );
    assert!(matches!(
        one(r#"{"type": "stats", "data": {"@k": {"x": {"count": 1, "average": 3, "total": 3}}}}"#),
        Event::Maps(m) if matches!(&m[0].1, MapData::KeyedStats(_))
    ));
    assert!(matches!(
        one(r#"{"type": "stats", "data": {"@avk": {"x": 3, "y": 4}}}"#),
        Event::Maps(m) if matches!(&m[0].1, MapData::Keyed(_))
    ));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    for bad in [
        &b"{"[..],
        b"[1,2]",
        b"{\"data\": 1}",
        b"{\"type\": \"map\", \"data\": 5}",
        b"{\"type\": \"hist\", \"data\": {\"@h\": 5}}",
        b"{\"type\": \"attached_probes\"}",
        b"\xff\xfe",
    ] {
        assert!(
            parse_line(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Invalid UTF-8 inside a string is replaced, not fatal.
    let e = parse_line(b"{\"type\": \"map\", \"data\": {\"@c\": {\"ab\xffc\": 1}}}").unwrap();
    assert!(matches!(e, Some(Event::Maps(_))));
}
