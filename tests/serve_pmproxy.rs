//! Real pmproxy 6.0.3 (in front of the system pmcd and PCP's own agents)
//! and `pcp-agent serve` answer the same requests about the same metrics
//! (PCP's pmdalinux behind pmproxy, our linux agent behind ours:
//! kernel.all.load, an instance-domain gauge; hinv.ncpu, a singular
//! metric; kernel.all.cpu.user, a counter), and the answers are compared
//! whole: every key pmproxy gives is there with the same JSON type and no
//! key is added; arrays hold the same elements (instances matched by id,
//! metrics and values by name, name lists as sets); every value is equal
//! (PMIDs, instance domains, types, semantics, units, instance names,
//! label sets) except where stated below; status codes match, and error
//! messages match word for word.
//!
//! Values compared with a tolerance, as the two servers read at slightly
//! different times:
//! - `timestamp`: within 10 s;
//! - kernel.all.cpu.user (milliseconds summed over all CPUs): within the
//!   CPU time that can pass between the two reads, hinv.ncpu x 1000 ms per
//!   second of their timestamps' difference, plus one second's worth;
//! - kernel.all.load: within 10% or 0.5, whichever is larger (the kernel
//!   updates it every 5 s);
//! - hinv.ncpu: exactly.
//!
//! Not compared, on purpose: `context` (each server's own ids), `series`
//! and `source` (our own identifiers, see src/serve/pmapi/mod.rs), help text
//! (`text-oneline`, `text-help`: our agents' help is our own words, never
//! PCP's), and the message of the one refusal of our own (`/pmapi/store`
//! without `--allow-store`, 403).

mod serve_util;

use std::net::SocketAddr;

use serde_json::Value;
use serve_util::*;

/// Keys we add on purpose (documented in src/serve/pmapi/mod.rs).
const OUR_EXTRA_KEYS: &[&str] = &["error"];

/// Keys whose values are not compared (see the module docs).
const NOT_COMPARED: &[&str] = &["context", "series", "source", "text-oneline", "text-help"];

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

/// How two numbers may differ: by the metric whose value they are.
#[derive(Debug, Clone)]
struct Tolerances {
    /// hinv.ncpu, for the counter's tolerance.
    ncpu: f64,
    /// Seconds between the two servers' reads (their timestamps' gap).
    apart: f64,
    /// Our names for the gauge, the counter and the singular metric, and
    /// pmproxy's.
    names: [(String, String); 3],
}

impl Tolerances {
    /// The allowed difference for a value of metric `name` (either side's
    /// name), or None if it must be equal.
    fn allowed(&self, name: &str, theirs: f64) -> Option<f64> {
        let is = |i: usize| self.names[i].0 == name || self.names[i].1 == name;
        if is(0) {
            Some((theirs.abs() * 0.1).max(0.5))
        } else if is(1) {
            Some(self.ncpu * 1000.0 * (self.apart + 1.0))
        } else {
            None
        }
    }
}

/// The key an array's objects are matched by, if they have one.
fn element_key(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    if let Some(i) = o.get("instance") {
        return Some(format!("instance={i}"));
    }
    o.get("name").map(|n| format!("name={n}"))
}

/// Compares `ours` with `theirs` (pmproxy's); records one row per field
/// and every mismatch. `metric` is the metric whose value this is, when
/// known (for tolerances).
#[allow(clippy::too_many_arguments)]
fn compare(
    path: &str,
    metric: Option<&str>,
    ours: &Value,
    theirs: &Value,
    tol: &Tolerances,
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
            // The metric this object's values belong to.
            let here = t
                .get("name")
                .and_then(Value::as_str)
                .filter(|_| t.contains_key("pmid") || t.contains_key("instances"))
                .or(metric);
            for (k, tv) in t {
                let p = format!("{path}.{k}");
                match o.get(k) {
                    Some(ov) if NOT_COMPARED.contains(&k.as_str()) => {
                        if kind(ov) != kind(tv) {
                            diffs.push(format!(
                                "{p}: ours is {}, pmproxy's is {}",
                                kind(ov),
                                kind(tv)
                            ));
                        }
                        rows.push(format!("{p:<56} {:<8} (not compared)", kind(ov)));
                    }
                    Some(ov) => compare(&p, here, ov, tv, tol, rows, diffs),
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
            if o.len() != t.len() {
                diffs.push(format!(
                    "{path}: ours has {} elements, pmproxy's {}",
                    o.len(),
                    t.len()
                ));
            }
            if t.iter().all(Value::is_string) && o.iter().all(Value::is_string) {
                // Name lists: the same set.
                fn set(v: &[Value]) -> Vec<&str> {
                    let mut s: Vec<&str> = v.iter().filter_map(Value::as_str).collect();
                    s.sort_unstable();
                    s
                }
                if set(o) != set(t) {
                    diffs.push(format!("{path}: ours {:?}, pmproxy's {:?}", set(o), set(t)));
                }
                rows.push(format!("{path:<56} set of {}", t.len()));
                return;
            }
            rows.push(format!("{path:<56} array of {}", t.len()));
            for (i, tv) in t.iter().enumerate() {
                let (label, ov) = match element_key(tv) {
                    Some(key) => (
                        format!("{path}[{key}]"),
                        o.iter()
                            .find(|ov| element_key(ov).as_deref() == Some(key.as_str())),
                    ),
                    None => (format!("{path}[{i}]"), o.get(i)),
                };
                match ov {
                    Some(ov) => compare(&label, metric, ov, tv, tol, rows, diffs),
                    None => diffs.push(format!("{label}: missing from ours")),
                }
            }
        }
        (Value::Number(on), Value::Number(tn)) => {
            let (a, b) = (
                on.as_f64().unwrap_or(f64::NAN),
                tn.as_f64().unwrap_or(f64::NAN),
            );
            let field = path.rsplit('.').next().unwrap_or("");
            let allowed = if field == "timestamp" {
                Some(10.0)
            } else if field == "value" {
                metric.and_then(|m| tol.allowed(m, b))
            } else {
                None
            };
            match allowed {
                Some(d) if (a - b).abs() <= d => {
                    rows.push(format!("{path:<56} {a} vs {b}, within {d}"))
                }
                Some(d) => diffs.push(format!(
                    "{path}: ours {a}, pmproxy's {b}: more than {d} apart"
                )),
                None if on == tn || a == b => rows.push(format!("{path:<56} {b} equal")),
                None => diffs.push(format!("{path}: ours {on}, pmproxy's {tn}")),
            }
        }
        _ => {
            if ours == theirs {
                rows.push(format!("{path:<56} {theirs} equal"));
            } else {
                diffs.push(format!("{path}: ours {ours}, pmproxy's {theirs}"));
            }
        }
    }
}

struct Pair {
    ours: SocketAddr,
    theirs: SocketAddr,
    o: Metrics,
    t: Metrics,
    /// hinv.ncpu (from pmproxy).
    ncpu: f64,
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

    /// The tolerances for two answers read `apart` seconds apart at most.
    fn tolerances(&self, apart: f64) -> Tolerances {
        let pair = |o: &str, t: &str| (o.to_string(), t.to_string());
        Tolerances {
            ncpu: self.ncpu,
            apart,
            names: [
                pair(self.o.indom_gauge, self.t.indom_gauge),
                pair(self.o.counter, self.t.counter),
                pair(self.o.singular, self.t.singular),
            ],
        }
    }

    /// Compares two answers got within `apart` seconds.
    fn compare_answers(&mut self, what: &str, oj: &Value, tj: &Value, apart: f64) {
        let tol = self.tolerances(apart);
        let (mut rows, mut diffs) = (Vec::new(), Vec::new());
        compare("", None, oj, tj, &tol, &mut rows, &mut diffs);
        self.rows.extend(rows);
        self.diffs
            .extend(diffs.into_iter().map(|d| format!("{what}: {d}")));
    }

    fn check_status(&mut self, template: &str, our_status: Option<u16>) -> (Value, Value) {
        let started = std::time::Instant::now();
        let (os, oj) = get_json(self.ours, &Self::fill(&self.o, template));
        let (ts, tj) = get_json(self.theirs, &Self::fill(&self.t, template));
        let apart = started.elapsed().as_secs_f64();
        let want = our_status.unwrap_or(ts);
        if os != want {
            self.diffs.push(format!(
                "{template}: status {os}, pmproxy {ts} (want {want})"
            ));
        }
        self.rows.push(format!("== {template}  [{os} / {ts}]"));
        if our_status.is_some() {
            // A refusal of our own (documented): its message says why in
            // our words; the rest of the body is compared.
            let strip = |j: &Value| {
                let mut j = j.clone();
                if let Some(m) = j.as_object_mut().and_then(|o| o.get_mut("message")) {
                    *m = Value::String("(our own refusal)".into());
                }
                j
            };
            self.compare_answers(template, &strip(&oj), &strip(&tj), apart);
        } else {
            self.compare_answers(template, &oj, &tj, apart);
        }
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
    let Some(o) = our_metrics() else {
        return;
    };
    let (_serve, ours) = start_serve(o.agents, &[]);
    let (_pmproxy, theirs) = start_pmproxy();
    let t = pcp_metrics();
    let (_, n) = get_json(theirs, &format!("/pmapi/fetch?names={}", t.singular));
    let ncpu = n["values"][0]["instances"][0]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("hinv.ncpu from pmproxy: {n}"));
    let mut p = Pair {
        ours,
        theirs,
        o,
        t,
        ncpu,
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
    let started = std::time::Instant::now();
    let (oj, tj) = (
        get_json(ours, &format!("/pmapi/fetch?pmids={opmid}")),
        get_json(theirs, &format!("/pmapi/fetch?pmids={tpmid}")),
    );
    assert_eq!(oj.0, tj.0);
    let apart = started.elapsed().as_secs_f64();
    p.compare_answers("/pmapi/fetch?pmids=", &oj.1, &tj.1, apart);
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
    assert_eq!(p.o.indom_gauge, p.t.indom_gauge);
    {
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

    println!("field by field (ours vs pmproxy 6.0.3):");
    for r in &p.rows {
        println!("  {r}");
    }
    assert!(
        p.diffs.is_empty(),
        "structure differs from pmproxy:\n{}",
        p.diffs.join("\n")
    );
}

/// The comparison itself catches what the old one let through (it
/// compared arrays up to the shorter one and never compared values): a
/// missing instance, an extra one, a value out of its tolerance, a
/// different label, a different name list.
#[test]
fn the_comparison_sees_missing_elements_and_wrong_values() {
    use serde_json::json;
    let tol = Tolerances {
        ncpu: 2.0,
        apart: 0.5,
        names: [
            ("kernel.all.load".into(), "kernel.all.load".into()),
            ("kernel.all.cpu.user".into(), "kernel.all.cpu.user".into()),
            ("hinv.ncpu".into(), "hinv.ncpu".into()),
        ],
    };
    let theirs = json!({"context": 1, "values": [
        {"pmid": "60.2.0", "name": "kernel.all.load", "instances": [
            {"instance": 1, "value": 1.0}, {"instance": 5, "value": 2.0}]},
        {"pmid": "60.0.20", "name": "kernel.all.cpu.user", "instances": [
            {"instance": null, "value": 100000}]},
        {"pmid": "60.0.32", "name": "hinv.ncpu", "instances": [
            {"instance": null, "value": 2}]}],
        "labels": {"hostname": "a"}, "leaf": ["x", "y"]});
    let diffs = |ours: Value| {
        let (mut rows, mut diffs) = (Vec::new(), Vec::new());
        compare("", None, &ours, &theirs, &tol, &mut rows, &mut diffs);
        diffs
    };
    // Equal but for ids, order and values within tolerance.
    let same = json!({"context": 9, "values": [
        {"pmid": "60.0.32", "name": "hinv.ncpu", "instances": [
            {"instance": null, "value": 2}]},
        {"pmid": "60.2.0", "name": "kernel.all.load", "instances": [
            {"instance": 5, "value": 2.3}, {"instance": 1, "value": 1.0000001}]},
        {"pmid": "60.0.20", "name": "kernel.all.cpu.user", "instances": [
            {"instance": null, "value": 102900}]}],
        "labels": {"hostname": "a"}, "leaf": ["y", "x"]});
    assert_eq!(diffs(same.clone()), Vec::<String>::new());
    let mut v = same.clone();
    v["values"][1]["instances"].as_array_mut().unwrap().pop();
    assert!(diffs(v)
        .iter()
        .any(|d| d.contains("instance=1") && d.contains("missing")));
    let mut v = same.clone();
    v["values"][1]["instances"]
        .as_array_mut()
        .unwrap()
        .push(json!({"instance": 15, "value": 1}));
    assert!(diffs(v)
        .iter()
        .any(|d| d.contains("3 elements, pmproxy's 2")));
    let mut v = same.clone();
    v["values"][2]["instances"][0]["value"] = json!(103100);
    assert!(diffs(v).iter().any(|d| d.contains("more than 3000 apart")));
    let mut v = same.clone();
    v["values"][0]["instances"][0]["value"] = json!(3);
    assert!(diffs(v).iter().any(|d| d.contains("ours 3, pmproxy's 2")));
    let mut v = same.clone();
    v["labels"]["hostname"] = json!("b");
    assert!(diffs(v).iter().any(|d| d.contains(".labels.hostname")));
    let mut v = same;
    v["leaf"] = json!(["x", "z"]);
    assert!(diffs(v).iter().any(|d| d.contains(".leaf")));
}
