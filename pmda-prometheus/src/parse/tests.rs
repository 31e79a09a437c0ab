//! Tests of the parser: both formats' grammar, malformed lines, escapes,
//! and properties over generated documents.

use super::*;

fn samples(doc: &str) -> Vec<Sample<'_>> {
    Parser::new(doc)
        .filter_map(|l| match l {
            Ok(Line::Sample(s)) => Some(s),
            _ => None,
        })
        .collect()
}

fn labels<'a>(s: &Sample<'a>) -> Vec<(&'a str, String)> {
    s.labels()
        .map(|(k, v)| (k, v.value().into_owned()))
        .collect()
}

#[test]
fn prometheus_text_format_example() {
    // The example from the Prometheus exposition-format documentation.
    let doc = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
"#;
    let all: Vec<_> = Parser::new(doc).collect();
    assert!(all.iter().all(|l| l.is_ok()), "{all:?}");
    let s = samples(doc);
    assert_eq!(s.len(), 9);
    assert_eq!(s[0].name, "http_requests_total");
    assert_eq!(s[0].timestamp, Some("1395066363000"));
    assert_eq!(s[1].value, 3.0);
    assert_eq!(
        labels(&s[2]),
        [
            ("path", r"C:\DIR\FILE.TXT".to_string()),
            ("error", "Cannot find file:\n\"FILE.TXT\"".to_string())
        ]
    );
    assert_eq!(s[2].value, 1.458255915e9);
    assert!(s[3].labels().next().is_none());
    assert_eq!(s[4].value, f64::INFINITY);
    assert_eq!(s[4].timestamp, Some("-3982045"));
    assert!(matches!(
        Parser::new(doc).nth(1),
        Some(Ok(Line::Type {
            name: "http_requests_total",
            ty: MetricType::Counter
        }))
    ));
}

#[test]
fn openmetrics_features() {
    let doc = "# TYPE foo counter\n# UNIT foo seconds\n# HELP foo Help with \\n newline.\n\
foo_total{a=\"1\",} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.4\n\
foo_created 1520430000.123\nnan_v NaN\nneg_inf -Inf\n# EOF\nafter_eof 1\n";
    let lines: Vec<_> = Parser::new(doc).collect::<Result<_, _>>().unwrap();
    assert_eq!(lines.len(), 8);
    assert_eq!(
        lines[1],
        Line::Unit {
            name: "foo",
            unit: "seconds"
        }
    );
    let Line::Help { text, .. } = lines[2] else {
        panic!()
    };
    assert_eq!(
        help_text(text),
        ("Help with ".to_string(), " newline.".to_string())
    );
    let Line::Sample(s) = lines[3] else { panic!() };
    assert_eq!(labels(&s), [("a", "1".to_string())]);
    assert_eq!(s.timestamp, Some("1520879607.789"));
    assert_eq!(
        s.exemplar,
        Some("{trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.4")
    );
    let Line::Sample(s) = lines[5] else { panic!() };
    assert!(s.value.is_nan());
    let Line::Sample(s) = lines[6] else { panic!() };
    assert_eq!(s.value, f64::NEG_INFINITY);
    assert_eq!(lines[7], Line::Eof);
}

#[test]
fn lenient_forms_the_reference_accepts() {
    // Blank around '=' and ',', a blank between name and '{', CRLF.
    let doc =
        "loadavg {interval=\"1-minute\"} 0.12\r\nx{ a = \"1\" , b=\"2\" } 3\r\n  indented 4  \n";
    let s = samples(doc);
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].name, "loadavg");
    assert_eq!(labels(&s[1]), [("a", "1".into()), ("b", "2".into())]);
    assert_eq!(s[2].value, 4.0);
    assert!(samples("a{} 1").len() == 1);
    assert!(!samples("a{} 1")[0].has_labels());
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let doc = "good 1\nfoo{a=\"x\" b=\"y\"} 6\n<html>\nx{a=\"unterminated} 1\n9bad 1\nnoval\nv abc\nts 1 notanumber\nex 1 # garbage\nmore 2 3 4\nlast 5\n";
    let res: Vec<_> = Parser::new(doc).collect();
    let kinds: Vec<_> = res
        .iter()
        .map(|r| r.as_ref().err().map(|e| (e.line, e.kind)))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some((2, ErrorKind::BadLabels)),
            Some((3, ErrorKind::BadName)),
            Some((4, ErrorKind::BadLabels)),
            Some((5, ErrorKind::BadName)),
            Some((6, ErrorKind::BadValue)),
            Some((7, ErrorKind::BadValue)),
            Some((8, ErrorKind::BadTimestamp)),
            Some((9, ErrorKind::BadExemplar)),
            Some((10, ErrorKind::TrailingText)),
            None
        ]
    );
    assert_eq!(samples(doc).last().unwrap().name, "last");
}

#[test]
fn comments() {
    let doc = "# Type foo gauge\n#\n# HELP\n# PCP5 disk.dev.read 60.0.4 u64 60.1 counter count\n# PCP kernel.all.load instant none\n# EOF extra\n";
    let lines: Vec<_> = Parser::new(doc).collect();
    assert_eq!(lines[0], Ok(Line::Comment("Type foo gauge")));
    assert_eq!(lines[1], Ok(Line::Comment("")));
    assert!(lines[2].is_err());
    assert_eq!(
        lines[3],
        Ok(Line::Pcp5 {
            name: "disk.dev.read",
            rest: "60.0.4 u64 60.1 counter count"
        })
    );
    assert_eq!(
        lines[4],
        Ok(Line::Pcp {
            name: "kernel.all.load",
            rest: "instant none"
        })
    );
    assert_eq!(lines[5], Ok(Line::Comment("EOF extra")));
}

#[test]
fn escapes_kept_when_unknown() {
    let s = samples(r#"m{a="x\ty\\z\"q"} 1"#);
    assert_eq!(labels(&s[0]), [("a", r#"x\ty\z"q"#.to_string())]);
    assert!(samples(r#"m{a="ends\"} 1"#).is_empty());
}

#[test]
fn non_ascii_label_values() {
    let s = samples("m{city=\"Zürich\",e=\"日本\"} 1\n");
    assert_eq!(labels(&s[0])[0].1, "Zürich");
    assert_eq!(labels(&s[0])[1].1, "日本");
}

proptest::proptest! {
    #[test]
    fn never_panics_on_random_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        for l in Parser::new(&text) {
            if let Ok(Line::Sample(s)) = l {
                for (_, v) in s.labels() {
                    let _ = v.value();
                }
            }
        }
    }

    #[test]
    fn never_panics_on_near_valid_lines(s in r#"[a-z_:{}=",# \\.0-9+\-eEInfNa\t\n]{0,200}"#) {
        for l in Parser::new(&s) {
            if let Ok(Line::Sample(s)) = l {
                let n = s.labels().count();
                proptest::prop_assert!(n <= s.labels_text().len());
            }
        }
    }

    #[test]
    fn labels_round_trip(pairs in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[^\\\\\"\n]{0,12}|[a\\\\\"\n]{0,6}"), 0..6), v in proptest::num::f64::NORMAL) {
        let mut line = String::from("m{");
        for (k, val) in &pairs {
            let esc = val.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            line.push_str(&format!("{k}=\"{esc}\","));
        }
        line.push_str(&format!("}} {v:e}\n"));
        let got = samples(&line);
        proptest::prop_assert_eq!(got.len(), 1);
        proptest::prop_assert_eq!(got[0].value, v);
        let back: Vec<(String, String)> = got[0].labels().map(|(k, x)| (k.to_string(), x.value().into_owned())).collect();
        proptest::prop_assert_eq!(back, pairs);
    }
}
