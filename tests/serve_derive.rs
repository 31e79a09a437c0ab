//! Derived metrics over HTTP, against a real pmproxy 6.0.3 in front of the
//! system pmcd: `/pmapi/derive` (per context, both forms and every kind
//! of refusal), and derived metrics in `/pmapi/metric` and `/pmapi/fetch`.
//! Each answer is compared whole: status, every key (recursively), the
//! messages word for word, PMIDs, descriptors, labels, help text and the
//! set of instances; values within the tolerance stated below. The only
//! field excluded is `series` (pmproxy's SHA-1 of its own encoding, see
//! src/serve/pmapi/mod.rs).

mod serve_util;

use std::net::SocketAddr;

use pcp_core::testing::require;
use serde_json::Value;
use serve_util::*;

fn ctx(addr: SocketAddr) -> u64 {
    let (_, c) = get_json(addr, "/pmapi/context?polltimeout=60");
    c["context"].as_u64().unwrap()
}

/// Replaces context numbers (different on each side) and drops `series`
/// and `timestamp`, recursively.
fn normal(v: &Value, ctx: u64) -> Value {
    let _ = ctx;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k != "series" && *k != "timestamp")
                .map(|(k, v)| {
                    let v = if k == "context" && v.is_u64() {
                        Value::String("CTX".into())
                    } else {
                        normal(v, ctx)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| normal(x, ctx)).collect()),
        other => other.clone(),
    }
}

/// Numbers equal within `tol` (relative to the larger, plus 0.05
/// absolute), everything else equal; arrays of instances compared as sets
/// by instance number.
fn same(a: &Value, b: &Value, tol: f64) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 0.05 + tol * x.abs().max(y.abs())
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same(v, w, tol)))
        }
        (Value::Array(x), Value::Array(y)) => {
            let key = |v: &Value| v.get("instance").map(|i| i.to_string()).unwrap_or_default();
            let mut x: Vec<&Value> = x.iter().collect();
            let mut y: Vec<&Value> = y.iter().collect();
            x.sort_by_key(|v| key(v));
            y.sort_by_key(|v| key(v));
            x.len() == y.len() && x.iter().zip(&y).all(|(v, w)| same(v, w, tol))
        }
        _ => a == b,
    }
}

struct Pair {
    ours: SocketAddr,
    theirs: SocketAddr,
    oc: u64,
    tc: u64,
    diffs: Vec<String>,
    checked: usize,
}

impl Pair {
    fn send(
        &self,
        addr: SocketAddr,
        c: u64,
        method: &str,
        target: &str,
        body: &str,
    ) -> (u16, Value) {
        let t = target.replace("{ctx}", &c.to_string());
        let (s, text) = request(addr, method, &t, body.as_bytes()).unwrap();
        let j: Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{t}: {e}: {text}"));
        (s, normal(&j, c))
    }

    /// The same request to both; `tol` for values (0: exact).
    fn check(&mut self, method: &str, target: &str, body: &str, tol: f64) -> Value {
        let (os, oj) = self.send(self.ours, self.oc, method, target, body);
        let (ts, tj) = self.send(self.theirs, self.tc, method, target, body);
        self.checked += 1;
        if os != ts || !same(&oj, &tj, tol) {
            self.diffs.push(format!(
                "{method} {target} {body:?}\n  ours   [{os}] {oj}\n  pmproxy [{ts}] {tj}"
            ));
        }
        oj
    }
}

#[test]
fn derive_and_derived_metrics_as_pmproxy_answers() {
    if !require(
        "pmproxy",
        have_pmproxy_and_pmcd() && linux_agent_available(),
        "pmproxy (package pcp), a running pmcd and our linux agent are needed",
    ) {
        return;
    }
    let (_serve, ours) = start_serve("linux", &[]);
    let (_pmproxy, theirs) = start_pmproxy();
    let mut p = Pair {
        ours,
        theirs,
        oc: ctx(ours),
        tc: ctx(theirs),
        diffs: Vec::new(),
        checked: 0,
    };
    // Definitions, and every way pmAddDerivedMetric refuses one.
    for q in [
        "name=my.load&expr=kernel.all.load*2",
        "name=my.bad&expr=4rat(disk.dev.read)",
        "name=my.plus&expr=1%20%2B",
        "name=my.sem&expr=kernel.all.load%2Bkernel.all.cpu.user",
        "name=my.nosuch&expr=no.such.metric*2",
        "name=my.load&expr=hinv.ncpu",
        "name=kernel.all.load&expr=hinv.ncpu",
        "name=my.cnt&expr=count(kernel.all.load)",
        "name=my.util&expr=100*rate(kernel.all.cpu.user)/hinv.ncpu",
        "name=my.first&expr=kernel.all.load[1%20minute]",
        "name=my.match&expr=matchinst(/^1/,kernel.all.load)",
        "name=x",
        "expr=a.b",
    ] {
        p.check("GET", &format!("/pmapi/{{ctx}}/derive?{q}"), "", 0.0);
    }
    // Configuration file mode, in a POST body; and a body with name=.
    p.check(
        "POST",
        "/pmapi/{ctx}/derive",
        "# two\nmy.two = hinv.ncpu * 2\nmy.three hinv.ncpu * 3\n",
        0.0,
    );
    p.check(
        "POST",
        "/pmapi/{ctx}/derive",
        "my.four = hinv.ncpu * 4\nmy.five = 1 +\n",
        0.0,
    );
    p.check("POST", "/pmapi/{ctx}/derive", "my.six = hinv.ncpu * 6", 0.0);
    p.check(
        "POST",
        "/pmapi/{ctx}/derive?name=my.seven",
        "hinv.ncpu*7",
        0.0,
    );
    p.check("POST", "/pmapi/{ctx}/derive", "", 0.0);
    // The context's metrics: descriptors, PMIDs (counting down from
    // 511.2047.1023 as definitions are made), labels, help.
    let names =
        "my.load,my.cnt,my.util,my.first,my.match,my.two,my.three,my.four,my.seven,my.nosuch";
    p.check(
        "GET",
        &format!("/pmapi/{{ctx}}/metric?names={names}"),
        "",
        0.0,
    );
    // Values: load averages move slowly (2% tolerance); the rate needs a
    // first fetch in the context before it has a value, on both sides.
    let fetch = "/pmapi/{ctx}/fetch?names=my.load,my.cnt,my.first,my.match,my.two,my.seven";
    p.check("GET", fetch, "", 0.02);
    // A singular rate in its context's first fetch: no value. pmproxy
    // prints its zeroed cache there ({"instance":null,"value":0}), which a
    // client cannot tell from a real 0; we print no instance (documented
    // in src/serve/pmapi/mod.rs). The second fetch has a value on both.
    let first = "/pmapi/{ctx}/fetch?names=my.util";
    let (_, o) = p.send(p.ours, p.oc, "GET", first, "");
    let (_, t) = p.send(p.theirs, p.tc, "GET", first, "");
    assert_eq!(o["values"][0]["instances"], serde_json::json!([]), "{o}");
    assert_eq!(
        t["values"][0]["instances"],
        serde_json::json!([{"instance": null, "value": 0}]),
        "{t}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    // CPU use moves between the two sides' fetches: the structure and
    // instances are compared, not the value.
    p.check("GET", first, "", 1e9);
    // Another context does not see these.
    p.check("GET", "/pmapi/fetch?names=my.load,hinv.ncpu", "", 0.0);
    p.check("GET", "/pmapi/fetch?name=my.load", "", 0.0);
    // The global (configured) derived metrics in a fresh context: the
    // whole descriptor, labels and help of each.
    p.check(
        "GET",
        "/pmapi/metric?names=disk.dev.await,disk.dev.util,kernel.cpu.util.user,kernel.cpu.util.idle",
        "",
        0.0,
    );
    p.check("GET", "/pmapi/metric?prefix=kernel.cpu.util", "", 0.0);
    p.check("GET", "/pmapi/children?prefix=kernel.cpu", "", 0.0);
    p.check("GET", "/pmapi/children?prefix=kernel.cpu.util", "", 0.0);
    // A global rate: no value in a context's first fetch.
    let c = "/pmapi/fetch?names=disk.dev.await,disk.dev.util";
    p.check("GET", c, "", 0.0);
    assert!(
        p.diffs.is_empty(),
        "{} of {} answers differ from pmproxy's:\n{}",
        p.diffs.len(),
        p.checked,
        p.diffs.join("\n")
    );
    println!(
        "{} requests answered as pmproxy 6.0.3 answers them",
        p.checked
    );
}

#[test]
fn metrics_page_shows_derived_rates_from_the_second_scrape() {
    if !require(
        "linux agent",
        linux_agent_available(),
        "our linux agent cannot read /proc here",
    ) {
        return;
    }
    let (_serve, ours) = start_serve("linux", &[]);
    let page = "/metrics?names=kernel.cpu.util,disk.dev.await";
    let (s, first) = get(ours, page).unwrap();
    assert_eq!(s, 200);
    // No value yet (a rate needs two scrapes): nothing for it.
    assert!(!first.contains("kernel_cpu_util_user{"), "{first}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_, second) = get(ours, page).unwrap();
    for m in [
        "kernel_cpu_util_user{",
        "kernel_cpu_util_idle{",
        "disk_dev_await{",
    ] {
        assert!(second.contains(m), "{m} missing:\n{second}");
    }
    assert!(
        second.contains("# PCP5 kernel.cpu.util.user 511.0.3 double PM_INDOM_NULL instant none"),
        "{second}"
    );
}
