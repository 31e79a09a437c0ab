//! The expression parser against PCP 6.0.3's own: the same expressions go
//! to libpcp's pmRegisterDerivedMetric (through Python's ctypes) and to
//! ours, and the verdict (accepted or not), the position of the error and
//! the whole message must agree, for a corpus of typical mistakes and for
//! thousands of random token strings.

use std::io::Write;
use std::process::{Command, Stdio};

use pcp_core::derive::Registry;
use pcp_core::testing::require;

fn libpcp_available() -> bool {
    [
        "/usr/lib/x86_64-linux-gnu/libpcp.so.3",
        "/usr/lib/libpcp.so.3",
        "/usr/lib64/libpcp.so.3",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
        && python().is_some()
}

fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import ctypes; ctypes.CDLL('libpcp.so.3')"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// libpcp's verdicts: (accepted, message) per expression.
fn libpcp(exprs: &[String]) -> Vec<(bool, Option<String>)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/derive/libpcp_register.py"
    );
    let mut child = Command::new(python().unwrap())
        .arg(script)
        .env("PCP_DERIVED_CONFIG", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = exprs
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["ok"].as_bool().unwrap(),
                v["message"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn ours(exprs: &[String]) -> Vec<(bool, Option<String>)> {
    let mut r = Registry::new();
    exprs
        .iter()
        .enumerate()
        .map(|(n, e)| {
            let name = format!("t.e{n}");
            match r.register(&name, e) {
                Ok(_) => (true, None),
                Err(err) => (false, Some(err.message(&name, e))),
            }
        })
        .collect()
}

const CORPUS: &[&str] = &[
    "a+", "+a", "a b", "4rat(x)", "a+*b", "rate (x)", "rate(a+b)", "a &b", "1.5e3",
    "99999999999", "mkconst(1, type=float)", "mkconst(1.5, type=u32)", "a[x", "\"abc",
    "matchinst(/x/, a/b)", "a ? b", "(a", "a)", "", "avg(", "rescale(a, \"foo\")",
    "mkconst(1, units=foo)", "#", "a + 1 c", "a + b c", "a+(b", "(a (b))", "(a) b",
    "a , b", "(a , b)", "a : b", "a ? b : ", "!", "-", "a &&", "a || b ||", "! a b",
    "- (", "rate(x", "rate(x y)", "count()", "delta(3)", "anon(PM_TYPE_U32)",
    "rescale(a b)", "rescale(a,", "rescale(a, b)", "rescale(a, \"kbyte\"",
    "matchinst(x, a)", "matchinst(!x, a)", "matchinst(/x/ a)", "matchinst(/x/, )",
    "matchinst(/(/, a)", "matchinst(/[a/, a)", "matchinst(/x/, a", "scalar(", "scalar(a",
    "scalar(a b)", "mkconst(", "mkconst(1)", "mkconst(1,)", "mkconst(1, type)",
    "mkconst(1, type=)", "mkconst(1, type=x)", "mkconst(1, semantics=counter, units=\"kbyte/s\")",
    "mkconst(1, semantics=foo)", "mkconst(1, units=kbyte/count)", "a[x][y]", "(a)[x]",
    "a = b", "a == b == c", "a ? b : c ? d : e", "x[a\\]b]", "1 2", "1.2.3", ". + 1",
    "a  ", "   ", "(", ")", "((a)", "a))", "delta(a) == 0 ? mkconst(0, type=\"double\", semantics=\"instant\", units=\"millisec / count\") : delta(b) / delta(a)",
    "a < b > c", "a >= ", "type", "units=", "semantics", "a ? (b : c)", "rate(a)(b)",
    "!!a", "--a", "-!a", "a*-b", "a*!b", "mkconst(3, type=64) + a", "defined(a.b.c)",
    "instant(x) + y", "count(x) * 2", "sum(x) / avg(y)", "max(x) - min(x)",
];

fn compare(exprs: &[String]) {
    let theirs = libpcp(exprs);
    let mine = ours(exprs);
    assert_eq!(
        theirs.len(),
        exprs.len(),
        "libpcp answered {} of {}",
        theirs.len(),
        exprs.len()
    );
    let mut diffs = Vec::new();
    for ((e, t), o) in exprs.iter().zip(&theirs).zip(&mine) {
        if t != o {
            diffs.push(format!("{e:?}\n  libpcp: {t:?}\n  ours:   {o:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} expressions differ from libpcp:\n{}",
        diffs.len(),
        exprs.len(),
        diffs
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn typical_mistakes_are_reported_as_libpcp_reports_them() {
    if !require(
        "libpcp",
        libpcp_available(),
        "PCP's libpcp.so.3 and python3 are needed",
    ) {
        return;
    }
    compare(&CORPUS.iter().map(|s| s.to_string()).collect::<Vec<_>>());
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

#[test]
fn random_token_strings_get_libpcp_verdicts() {
    if !require(
        "libpcp",
        libpcp_available(),
        "PCP's libpcp.so.3 and python3 are needed",
    ) {
        return;
    }
    const TOKENS: &[&str] = &[
        "a",
        "b.c",
        "x_1",
        "1",
        "42",
        "2.5",
        ".5",
        "(",
        ")",
        "(",
        ")",
        "+",
        "-",
        "*",
        "/",
        "<",
        "<=",
        "==",
        ">=",
        ">",
        "!=",
        "&&",
        "||",
        "!",
        "?",
        ":",
        ",",
        "[x]",
        "[1 minute]",
        "\"kbyte\"",
        "\"count / sec\"",
        "rate(",
        "avg(",
        "delta(",
        "count(",
        "instant(",
        "rescale(",
        "matchinst(",
        "/re/",
        "scalar(",
        "mkconst(",
        "type=u32",
        "semantics=instant",
        "units=\"kbyte\"",
        "anon(",
        "PM_TYPE_U32",
        "defined(",
        "#",
        "&",
        "|",
        "=",
        "type",
        "99999999999",
        "1.",
        "..",
        "a..b",
        "\"open",
        "[open",
        "sum(",
        "max(",
        "min(",
        "semantics=",
        "units=kbyte",
        "mkconst(1,",
        "mkconst(2.5,",
        "type=double",
        "\\",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let exprs: Vec<String> = (0..20000)
        .map(|_| {
            let n = 1 + rng.next() % 10;
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(rng.pick(TOKENS));
                if rng.next() % 3 == 0 {
                    s.push(' ');
                }
            }
            s
        })
        .collect();
    compare(&exprs);
}
