//! Tests of the derived-metric expression parser.

use super::*;

fn ok(s: &str) -> String {
    parse(s)
        .unwrap_or_else(|e| panic!("{s}: {e:?}"))
        .to_string()
}

fn err(s: &str) -> (isize, Option<String>) {
    let e = parse(s).expect_err(s);
    (e.pos, e.message)
}

#[test]
fn precedence_as_libpcp_computes() {
    assert_eq!(ok("a+b*c"), "(a + (b * c))");
    assert_eq!(ok("a-b>c+d"), "((a - b) > (c + d))");
    assert_eq!(ok("a>b!=c"), "((a > b) != c)");
    assert_eq!(
        ok("a>=b||b>c&&d!=e||f>g"),
        "((((a >= b) || (b > c)) && (d != e)) || (f > g))"
    );
    assert_eq!(ok("!a>b||c<d"), "((!(a > b)) || (c < d))");
    assert_eq!(ok("!a<b+c"), "(!(a < (b + c)))");
    assert_eq!(ok("-a*b+c"), "((-(a * b)) + c)");
    assert_eq!(ok("1 ? 2 : 3 ? 4 : 5"), "((1 ? 2 : 3) ? 4 : 5)");
    assert_eq!(ok("a ? b ? c : d : e"), "(a ? (b ? c : d) : e)");
    assert_eq!(ok("a ? b : c && d"), "(a ? b : (c && d))");
}

#[test]
fn functions_and_constructors() {
    assert_eq!(
        ok("delta(disk.dev.total) == 0 ? mkconst(0, type=\"double\", semantics=\"instant\", units=\"millisec / count\") : delta(disk.dev.total_rawactive) / delta(disk.dev.total)"),
        "((delta(disk.dev.total) == 0) ? 0 : (delta(disk.dev.total_rawactive) / delta(disk.dev.total)))"
    );
    assert_eq!(ok("x[eth0]"), "x[eth0]");
    assert_eq!(
        ok("matchinst(!/^(lo)|(vbir)/, n.i.b)"),
        "matchinst(!/^(lo)|(vbir)/, n.i.b)"
    );
    assert_eq!(
        ok("rescale(a, \"Mbytes/hour\")"),
        "rescale(a, \"Mbyte / hour\")"
    );
    assert_eq!(ok("scalar(x[a] + y)"), "scalar((x[a] + y))");
}

// Positions and messages checked against libpcp 6.0.3
// (pmRegisterDerivedMetric) on the same inputs.
#[test]
fn errors_as_libpcp_reports_them() {
    let aplus = Some("Arithmetic expression expected to follow PLUS".to_string());
    assert_eq!(err("a+"), (1, aplus.clone()));
    assert_eq!(err("a+*b"), (2, aplus));
    assert_eq!(err("+a"), (1, Some("Unexpected initial '+'".into())));
    assert_eq!(
        err("a b"),
        (
            2,
            Some("Arithmetic or relational or boolean operator expected to follow NAME".into())
        )
    );
    assert_eq!(err("4rat(x)"), (1, None));
    assert_eq!(err("rate (x)"), (6, Some("Unexpected '('".into())));
    assert_eq!(
        err("rate(a+b)"),
        (6, Some("Metric name expected to follow rate(".into()))
    );
    assert_eq!(err("a &b"), (2, Some("Illegal character".into())));
    assert_eq!(err("1.5e3"), (3, None));
    assert_eq!(
        err("99999999999"),
        (0, Some("Constant value too large".into()))
    );
    assert_eq!(
        err("mkconst(1.5, type=u32)"),
        (
            21,
            Some("Incompatible floating point constant and type 'U32'".into())
        )
    );
    assert_eq!(
        err("a ? b"),
        (
            4,
            Some("Arithmetic expression expected to follow QUEST".into())
        )
    );
    assert_eq!(err("(a"), (1, Some("Unexpected initial '('".into())));
    assert_eq!(err("a)"), (1, Some("Unexpected ')'".into())));
    assert_eq!(err(""), (-1, None));
    assert_eq!(
        err("avg("),
        (3, Some("Metric name expected to follow avg(".into()))
    );
    assert_eq!(
        err("rescale(a, \"foo\")"),
        (
            16,
            Some("Illegal units: 'unrecognized or duplicate base unit'".into())
        )
    );
    assert_eq!(
        err("matchinst(/x/, a/b)"),
        (16, Some("unterminated pattern".into()))
    );
    assert_eq!(err("#"), (0, Some("Illegal character".into())));
}

#[test]
fn carets() {
    let at = |pos| SyntaxError { pos, message: None }.caret();
    assert_eq!(at(0), "^");
    assert_eq!(at(-1), " ^");
    assert_eq!(at(3), "   ^");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
    let e = parse(&deep).unwrap_err();
    assert_eq!(e.message.as_deref(), Some("expression nested too deeply"));
    let negs = format!("{}a", "-".repeat(5000));
    assert!(parse(&negs).is_err());
    let long = format!("a{}", "+a".repeat(5000));
    let e = parse(&long).unwrap_err();
    assert!(e.message.unwrap().contains("more than 256 terms"));
    assert!(parse(&format!("a{}", "+a".repeat(100))).is_ok());
}
