//! Real pmproxy 6.0.3 (in front of the system pmcd and PCP's own agents)
//! and `pcp-agent serve` answer the same requests; the JSON structure is
//! compared field by field: every key pmproxy gives is there with the same
//! JSON type (recursively, through arrays), no unexpected key is added,
//! status codes match, and error messages match word for word.
//!
//! The metrics play the same roles on both sides: an instance-domain gauge,
//! a singular metric and a counter. pmproxy serves PCP's pmdalinux
//! (kernel.all.load, hinv.ncpu, kernel.all.cpu.user); we serve our linux
//! agent's same names when it is available, else the simple agent's.

mod serve_util;

use std::net::SocketAddr;

use serde_json::Value;
use serve_util::*;

/// Keys we add on purpose (documented in src/serve/pmapi.rs).
const OUR_EXTRA_KEYS: &[&str] = &["error"];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares `ours` with `theirs` (pmproxy's); records one row per field
/// and every mismatch.
fn compare(
    path: &str,
    ours: &Value,
    theirs: &Value,
    rows: &mut Vec<String>,
    diffs: &mut Vec<String>,
) {
    if kind(ours) != kind(theirs) {
        diffs.push(format!(
            "{path}: ours is {}, pmproxy's is {}",
            kind(ours),
            kind(theirs)
        ));
        return;
    }
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            if path.ends_with(".labels") {
                // Label sets differ in content by nature; both must be
                // flat objects of scalars.
                for (k, v) in o.iter().chain(t.iter()) {
                    if matches!(v, Value::Array(_) | Value::Object(_)) {
                        diffs.push(format!("{path}.{k}: label value is not a scalar"));
                    }
                }
                rows.push(format!("{path:<44} object of scalars   ok"));
                return;
            }
            for (k, tv) in t {
                let p = format!("{path}.{k}");
                match o.get(k) {
                    Some(ov) => compare(&p, ov, tv, rows, diffs),
                    None => diffs.push(format!("{p}: missing from ours")),
                }
            }
            for k in o.keys() {
                if !t.contains_key(k) && !OUR_EXTRA_KEYS.contains(&k.as_str()) {
                    diffs.push(format!("{path}.{k}: extra in ours"));
                }
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            if o.is_empty() != t.is_empty() {
                diffs.push(format!(
                    "{path}: ours has {} elements, pmproxy's {}",
                    o.len(),
                    t.len()
                ));
            }
            rows.push(format!("{path:<44} array               ok"));
            for (i, (ov, tv)) in o.iter().zip(t.iter()).enumerate() {
                compare(&format!("{path}[{i}]"), ov, tv, rows, diffs);
            }
        }
        _ => rows.push(format!("{path:<44} {:<19} ok", kind(ours))),
    }
}

struct Pair {
    ours: SocketAddr,
    theirs: SocketAddr,
    o: Metrics,
    t: Metrics,
    rows: Vec<String>,
    diffs: Vec<String>,
}

impl Pair {
    /// Our metric names in pmproxy's terms, so messages can be compared.
    fn to_theirs(&self, s: &str) -> String {
        s.replace(self.o.indom_gauge, self.t.indom_gauge)
            .replace(self.o.singular, self.t.singular)
            .replace(self.o.counter, self.t.counter)
    }

    /// A request template with `{indom}`, `{singular}`, `{parent}`,
    /// `{counter}` filled in for each side.
    fn fill(m: &Metrics, template: &str) -> String {
        template
            .replace("{indom}", m.indom_gauge)
            .replace("{singular}", m.singular)
            .replace("{counter}", m.counter)
            .replace("{parent}", m.parent)
    }

    /// Sends the request to both, compares status, structure and (for
    /// errors) the message. Returns (ours, theirs).
    fn check(&mut self, template: &str) -> (Value, Value) {
        self.check_status(template, None)
    }

    fn check_status(&mut self, template: &str, our_status: Option<u16>) -> (Value, Value) {
        let (os, oj) = get_json(self.ours, &Self::fill(&self.o, template));
        let (ts, tj) = get_json(self.theirs, &Self::fill(&self.t, template));
        let want = our_status.unwrap_or(ts);
        if os != want {
            self.diffs.push(format!(
                "{template}: status {os}, pmproxy {ts} (want {want})"
            ));
        }
        self.rows.push(format!("== {template}  [{os} / {ts}]"));
        let (mut rows, mut diffs) = (Vec::new(), Vec::new());
        compare("", &oj, &tj, &mut rows, &mut diffs);
        self.rows.extend(rows);
        self.diffs
            .extend(diffs.into_iter().map(|d| format!("{template}: {d}")));
        if ts >= 400 && our_status.is_none() {
            let om = self.to_theirs(oj["message"].as_str().unwrap_or(""));
            let tm = tj["message"].as_str().unwrap_or("");
            if om != tm {
                self.diffs
                    .push(format!("{template}: message {om:?}, pmproxy {tm:?}"));
            }
        }
        (oj, tj)
    }
}

#[test]
fn pmapi_answers_have_pmproxys_structure_field_by_field() {
    if !pcp_core::testing::require(
        "pmproxy",
        have_pmproxy_and_pmcd(),
        "pmproxy (package pcp) and a running pmcd on 127.0.0.1:44321 are needed",
    ) {
        return;
    }
    let o = our_metrics();
    let (_serve, ours) = start_serve(o.agents, &[]);
    let (_pmproxy, theirs) = start_pmproxy();
    let mut p = Pair {
        ours,
        theirs,
        o,
        t: pcp_metrics(),
        rows: Vec::new(),
        diffs: Vec::new(),
    };

    p.check("/pmapi/context");
    p.check("/pmapi/context?polltimeout=30");
    let (om, tm) = p.check("/pmapi/metric?names={indom},{singular},{counter}");
    p.check("/pmapi/metric?names={indom},no.such.metric");
    p.check("/pmapi/metric?names=no.such.metric");
    p.check("/pmapi/fetch?names={indom},{singular},{counter}");
    p.check("/pmapi/fetch?name={indom}");
    p.check("/pmapi/fetch?names={indom},no.such.metric");
    p.check("/pmapi/fetch?names=");
    p.check("/pmapi/fetch?name=no.such.metric");
    p.check("/pmapi/indom?name={indom}");
    p.check("/pmapi/indom?name={singular}");
    p.check("/pmapi/indom?name=no.such.metric");
    p.check("/pmapi/children?prefix={parent}");
    p.check("/pmapi/children?prefix={indom}");
    p.check("/pmapi/children?prefix=no.such.metric");
    p.check("/pmapi/profile?expr=bad");
    p.check("/pmapi/fetch?names={indom}&context=12345");
    p.check("/pmapi/context?polltimeout=abc");
    // Storing is refused on both (pmcd: no permission; ours: 403 without
    // --allow-store); the error body has the same structure.
    p.check_status("/pmapi/store?name={singular}&value=1", Some(403));

    // By PMID, with each side's own PMID of the gauge.
    let opmid = om["metrics"][0]["pmid"].as_str().unwrap().to_string();
    let tpmid = tm["metrics"][0]["pmid"].as_str().unwrap().to_string();
    let (oj, tj) = (
        get_json(ours, &format!("/pmapi/fetch?pmids={opmid}")),
        get_json(theirs, &format!("/pmapi/fetch?pmids={tpmid}")),
    );
    assert_eq!(oj.0, tj.0);
    compare("", &oj.1, &tj.1, &mut p.rows, &mut p.diffs);
    assert_eq!(oj.1["values"][0]["name"], p.o.indom_gauge);

    // A context with a profile: one instance only, on both.
    for (addr, m) in [(ours, p.o.clone()), (theirs, p.t.clone())] {
        let (_, c) = get_json(addr, "/pmapi/context?polltimeout=30");
        let ctx = c["context"].as_u64().unwrap();
        let (_, f) = get_json(
            addr,
            &format!("/pmapi/fetch?context={ctx}&names={}", m.indom_gauge),
        );
        let first = f["values"][0]["instances"][0]["instance"].as_u64().unwrap();
        let (s, j) = get_json(
            addr,
            &format!(
                "/pmapi/profile?context={ctx}&expr=add&name={}&instance={first}",
                m.indom_gauge
            ),
        );
        assert_eq!((s, &j["success"]), (200, &Value::Bool(true)), "{addr}: {j}");
        assert_eq!(j["context"].as_u64(), Some(ctx));
        let (_, f) = get_json(addr, &format!("/pmapi/{ctx}/fetch?names={}", m.indom_gauge));
        let insts = f["values"][0]["instances"].as_array().unwrap();
        assert_eq!(insts.len(), 1, "{addr}: profile not applied: {f}");
        assert_eq!(insts[0]["instance"].as_u64(), Some(first));
    }

    // match=regex: with the same metric on both sides, the same instances
    // are selected (pmproxy regexec(3)s each name: unanchored, ERE), for
    // /pmapi/indom and for a profile.
    if p.o.indom_gauge == p.t.indom_gauge {
        let names = |addr: SocketAddr, q: &str| -> Vec<String> {
            let (s, j) = get_json(
                addr,
                &format!("/pmapi/indom?name={}&match=regex&{q}", p.o.indom_gauge),
            );
            assert_eq!(s, 200, "{addr} {q}: {j}");
            let mut v: Vec<String> = j["instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap_or("").to_string())
                .collect();
            v.sort();
            v
        };
        for q in [
            "iname=^(1|5)%20",
            "iname=minute$",
            "iname=^15,^1%20",
            "iname=x+y",
        ] {
            let (o, t) = (names(ours, q), names(theirs, q));
            assert_eq!(o, t, "match=regex&{q}: ours {o:?}, pmproxy {t:?}");
        }
        p.check("/pmapi/indom?name={indom}&match=regex&iname=^(1|5)%20");
        for addr in [ours, theirs] {
            let (_, c) = get_json(addr, "/pmapi/context?polltimeout=30");
            let ctx = c["context"].as_u64().unwrap();
            let (s, j) = get_json(
                addr,
                &format!(
                    "/pmapi/profile?context={ctx}&expr=add&name={}&match=regex&iname=^5",
                    p.o.indom_gauge
                ),
            );
            assert_eq!(s, 200, "{addr}: {j}");
            let (_, f) = get_json(
                addr,
                &format!("/pmapi/{ctx}/fetch?names={}", p.o.indom_gauge),
            );
            let insts = f["values"][0]["instances"].as_array().unwrap();
            assert_eq!(insts.len(), 1, "{addr}: regex profile not applied: {f}");
            assert_eq!(insts[0]["instance"].as_u64(), Some(5), "{addr}: {f}");
        }
    }

    println!("field-by-field (ours vs pmproxy 6.0.3):");
    for r in &p.rows {
        println!("  {r}");
    }
    assert!(
        p.diffs.is_empty(),
        "structure differs from pmproxy:\n{}",
        p.diffs.join("\n")
    );
}
