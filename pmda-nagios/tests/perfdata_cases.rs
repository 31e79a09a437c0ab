//! The perfdata cases converters in use today get wrong, as a table:
//! threshold ranges, quoted labels with spaces and quotes, multi-line
//! output, units, comma decimals (refused with a clear error), check_multi
//! children; and properties: no input panics, every error names a byte
//! offset inside the text, and well-formed items read back as written.

use pmda_nagios::output::PluginOutput;
use pmda_nagios::perfdata::{parse, parse_range, PerfErrorKind, Range, Uom};
use proptest::prelude::*;

const INF: f64 = f64::INFINITY;

/// (perfdata, label, value, uom, warn (start, end, inside), crit, min, max)
type Case = (
    &'static str,
    &'static str,
    Option<f64>,
    Uom<'static>,
    Option<(f64, f64, bool)>,
    Option<(f64, f64, bool)>,
    Option<f64>,
    Option<f64>,
);

const GOOD: &[Case] = &[
    // The monitoring-plugins as they print on Debian.
    (
        "load1=1.390;5.000;10.000;0;",
        "load1",
        Some(1.39),
        Uom::None,
        Some((0.0, 5.0, false)),
        Some((0.0, 10.0, false)),
        Some(0.0),
        None,
    ),
    (
        "/=22237151232B;216442024755;243497277849;0;270552530944",
        "/",
        Some(22237151232.0),
        Uom::Bytes(0),
        Some((0.0, 216442024755.0, false)),
        Some((0.0, 243497277849.0, false)),
        Some(0.0),
        Some(270552530944.0),
    ),
    (
        "time=0.000568s;;;0.000000;10.000000",
        "time",
        Some(0.000568),
        Uom::Seconds,
        None,
        None,
        Some(0.0),
        Some(10.0),
    ),
    (
        "procs=95;250;400;0;",
        "procs",
        Some(95.0),
        Uom::None,
        Some((0.0, 250.0, false)),
        Some((0.0, 400.0, false)),
        Some(0.0),
        None,
    ),
    (
        "swap=0B;0;0;0;0",
        "swap",
        Some(0.0),
        Uom::Bytes(0),
        Some((0.0, 0.0, false)),
        Some((0.0, 0.0, false)),
        Some(0.0),
        Some(0.0),
    ),
    // Every range form of the guidelines.
    (
        "a=5;10:;~:20;;",
        "a",
        Some(5.0),
        Uom::None,
        Some((10.0, INF, false)),
        Some((f64::NEG_INFINITY, 20.0, false)),
        None,
        None,
    ),
    (
        "a=5;@10:20;10:20",
        "a",
        Some(5.0),
        Uom::None,
        Some((10.0, 20.0, true)),
        Some((10.0, 20.0, false)),
        None,
        None,
    ),
    (
        "a=-5.5;-10:-1",
        "a",
        Some(-5.5),
        Uom::None,
        Some((-10.0, -1.0, false)),
        None,
        None,
        None,
    ),
    // Quoted labels: spaces, a backslash, an escaped quote, '=' inside.
    (
        "'C:\\ Label'=7MB;;;0;100",
        "C:\\ Label",
        Some(7.0),
        Uom::Bytes(2),
        None,
        None,
        Some(0.0),
        Some(100.0),
    ),
    (
        "'it''s here'=1",
        "it's here",
        Some(1.0),
        Uom::None,
        None,
        None,
        None,
        None,
    ),
    (
        "'a=b'=2c",
        "a=b",
        Some(2.0),
        Uom::Counter,
        None,
        None,
        None,
        None,
    ),
    // Units: time, percent, counters, and units outside the guidelines kept.
    (
        "rta=0.5ms;100;500;0",
        "rta",
        Some(0.5),
        Uom::Millis,
        Some((0.0, 100.0, false)),
        Some((0.0, 500.0, false)),
        Some(0.0),
        None,
    ),
    (
        "t=12us",
        "t",
        Some(12.0),
        Uom::Micros,
        None,
        None,
        None,
        None,
    ),
    (
        "pl=0%;20;60",
        "pl",
        Some(0.0),
        Uom::Percent,
        Some((0.0, 20.0, false)),
        Some((0.0, 60.0, false)),
        None,
        None,
    ),
    (
        "rx=12345c",
        "rx",
        Some(12345.0),
        Uom::Counter,
        None,
        None,
        None,
        None,
    ),
    (
        "mem=3GB;;;0;16",
        "mem",
        Some(3.0),
        Uom::Bytes(3),
        None,
        None,
        Some(0.0),
        Some(16.0),
    ),
    (
        "temp=41.5C;70;80",
        "temp",
        Some(41.5),
        Uom::Other("C"),
        Some((0.0, 70.0, false)),
        Some((0.0, 80.0, false)),
        None,
        None,
    ),
    (
        "signal=-67dBm",
        "signal",
        Some(-67.0),
        Uom::Other("dBm"),
        None,
        None,
        None,
        None,
    ),
    // Unknown and empty values, an exponent, thresholds that repeat the unit.
    (
        "x=U;1;2",
        "x",
        None,
        Uom::None,
        Some((0.0, 1.0, false)),
        Some((0.0, 2.0, false)),
        None,
        None,
    ),
    (
        "x=;1",
        "x",
        None,
        Uom::None,
        Some((0.0, 1.0, false)),
        None,
        None,
        None,
    ),
    (
        "x=1.5e-05s;1s;2s;0s;",
        "x",
        Some(1.5e-05),
        Uom::Seconds,
        Some((0.0, 1.0, false)),
        Some((0.0, 2.0, false)),
        Some(0.0),
        None,
    ),
];

fn range(r: Option<(f64, f64, bool)>) -> Option<Range> {
    r.map(|(start, end, inside)| Range { start, end, inside })
}

#[test]
fn good_items_read_as_the_guidelines_define_them() {
    for &(text, label, value, uom, warn, crit, min, max) in GOOD {
        let items: Vec<_> = parse(text).collect();
        assert_eq!(items.len(), 1, "{text}");
        let it = items[0].as_ref().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(it.label, label, "{text}");
        assert_eq!(it.value, value, "{text}");
        assert_eq!(it.uom, uom, "{text}");
        assert_eq!(it.warn, range(warn), "{text}");
        assert_eq!(it.crit, range(crit), "{text}");
        assert_eq!((it.min, it.max), (min, max), "{text}");
    }
}

#[test]
fn bad_items_are_skipped_with_a_reason_and_the_rest_kept() {
    let cases: &[(&str, PerfErrorKind)] = &[
        ("load1=1,39;5,0;10,0", PerfErrorKind::CommaDecimal),
        ("novalue", PerfErrorKind::NoEquals),
        ("'unterminated=5", PerfErrorKind::UnterminatedQuote),
        ("=5", PerfErrorKind::EmptyLabel),
        ("x=abc", PerfErrorKind::BadValue),
        ("x=5;20:10", PerfErrorKind::BadRange("warn")),
        ("x=5;;@a:b", PerfErrorKind::BadRange("crit")),
        ("x=5;;;zero", PerfErrorKind::BadLimit("min")),
        ("x=5;1,5", PerfErrorKind::CommaDecimal),
    ];
    for (bad, kind) in cases {
        let text = format!("good1=1 {bad} good2=2");
        let items: Vec<_> = parse(&text).collect();
        let labels: Vec<String> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .map(|i| i.label.to_string())
            .collect();
        assert_eq!(labels, ["good1", "good2"], "{text}: {items:?}");
        let err = items
            .iter()
            .find_map(|i| i.as_ref().err())
            .unwrap_or_else(|| panic!("{text}: no error"));
        assert_eq!(&err.kind, kind, "{text}");
        assert_eq!(err.offset, 8, "{text}");
        assert!(err.to_string().contains("byte 8"), "{err}");
    }
    let e = parse("a=1,5").next().unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        "perfdata item at byte 0 (\"a=1,5\"): comma as decimal separator (perfdata numbers use '.')"
    );
}

#[test]
fn multi_line_output_gives_every_perfdata_part() {
    let text = "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
                / 15272 MB (77%);\n\
                /boot 68 MB (69%);\n\
                /home 69357 MB (27%); | /boot=68MB;88;93;0;98\n\
                /home=69357MB;253404;253409;0;253414\n";
    let out = PluginOutput::split(text);
    assert_eq!(out.status, "DISK OK - free space: / 3326 MB (56%);");
    assert_eq!(out.long_text.len(), 3);
    let labels: Vec<String> = out
        .perfdata
        .iter()
        .flat_map(|p| parse(p))
        .map(|i| i.unwrap().label.to_string())
        .collect();
    assert_eq!(labels, ["/", "/boot", "/home"]);
    // No perfdata at all, and perfdata only after the long text.
    assert!(PluginOutput::split("OK\n").perfdata.is_empty());
    let late = PluginOutput::split("OK\nline\n| a=1\n b=2");
    assert_eq!(late.perfdata, ["a=1", "b=2"]);
}

#[test]
fn check_multi_children_name_their_items() {
    let text = "check_multi::check_multi::plugins=2 time=0.02 'procs'::check_procs::procs=95;;;0 'load'::check_load::load1=0.5 load5=0.4";
    let got: Vec<(Option<String>, String)> = parse(text)
        .map(|i| {
            let i = i.unwrap();
            (i.child.map(|c| c.to_string()), i.label.to_string())
        })
        .collect();
    let want = [
        (Some("check_multi"), "plugins"),
        (Some("check_multi"), "time"),
        (Some("procs"), "procs"),
        (Some("load"), "load1"),
        (Some("load"), "load5"),
    ];
    let want: Vec<(Option<String>, String)> = want
        .iter()
        .map(|(c, l)| (c.map(str::to_string), l.to_string()))
        .collect();
    assert_eq!(got, want);
    // An IPv6 address is a label, not a child.
    assert_eq!(parse("'::1'=3ms").next().unwrap().unwrap().child, None);
}

#[test]
fn ranges_alert_as_documented() {
    let cases = [
        ("10", 11.0, true),
        ("10", -1.0, true),
        ("10", 5.0, false),
        ("10:", 9.0, true),
        ("~:10", 11.0, true),
        ("~:10", -100.0, false),
        ("10:20", 15.0, false),
        ("10:20", 21.0, true),
        ("@10:20", 15.0, true),
        ("@10:20", 25.0, false),
    ];
    for (r, v, alerts) in cases {
        assert_eq!(
            parse_range(r, Uom::None).unwrap().alerts(v),
            alerts,
            "{r} {v}"
        );
    }
}

proptest! {
    #[test]
    fn no_input_panics_and_errors_point_inside(text in "\\PC{0,200}") {
        for item in parse(&text) {
            if let Err(e) = item {
                prop_assert!(e.offset < text.len().max(1));
            }
        }
        let _ = PluginOutput::split(&text);
    }

    #[test]
    fn written_items_read_back(
        label in "[a-zA-Z][a-zA-Z0-9 _/:'-]{0,20}",
        value in -1e9f64..1e9,
        warn in proptest::option::of(0u32..1000),
        uom in prop::sample::select(vec!["", "s", "ms", "%", "B", "KB", "c"]),
    ) {
        let quoted = format!("'{}'", label.replace('\'', "''"));
        let warn_text = warn.map(|w| w.to_string()).unwrap_or_default();
        let text = format!("x=1 {quoted}={value}{uom};{warn_text};;0; y=2");
        let items: Vec<_> = parse(&text).collect();
        prop_assert_eq!(items.len(), 3);
        let it = items[1].as_ref().unwrap();
        prop_assert_eq!(it.label.as_ref(), label.as_str());
        prop_assert_eq!(it.value, Some(value));
        prop_assert_eq!(it.uom.as_str(), uom);
        prop_assert_eq!(it.warn.map(|r| r.end), warn.map(f64::from));
        prop_assert_eq!(it.min, Some(0.0));
    }
}
