//! Property tests of the derived-metric evaluator, each against an oracle
//! computed independently here:
//! - unit algebra: `a + b`, `a - b`, `a * b`, `a / b` over random units
//!   and scales preserve the physical quantity (value times its units'
//!   factor to base units) and get the dimensions the rules give;
//! - counters to rates: `rate(x)` is the change over the interval (time
//!   counters become utilisation), `delta(x)` the change, and neither has
//!   a value on the first fetch;
//! - instance matching: operands over one instance domain pair up by
//!   instance whatever the order the agent lists them in, a singular
//!   operand applies to every instance, and only instances present on
//!   both sides (and, for rates, in both fetches) get a value;
//! - the parser never panics, and its errors point into the text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pcp_core::derive::{parse, DerivedContext, Registry};
use pcp_core::namespace::Child;
use pcp_core::pmda::{LabelTarget, MetricResult, TextKind, TextTarget};
use pcp_core::{
    Desc, FetchResult, InDom, Instance, LabelSet, PmError, Pmapi, Pmid, Profile, Semantics, Type,
    Units, Value, PM_IN_NULL,
};
use proptest::prelude::*;

/// A base of metrics whose values the test sets before each fetch.
#[derive(Default)]
struct Fake {
    descs: HashMap<String, Desc>,
    values: Mutex<HashMap<Pmid, Vec<(u32, Value)>>>,
    stamp: Mutex<Option<SystemTime>>,
    instances: HashMap<InDom, Vec<Instance>>,
    labels: LabelSet,
}

const INDOM: InDom = InDom::from_parts(7, 1);

impl Fake {
    fn add(&mut self, name: &str, ty: Type, sem: Semantics, units: Units, indom: InDom) -> Pmid {
        let pmid = Pmid::from_parts(7, 0, self.descs.len() as u32);
        self.descs
            .insert(name.into(), Desc::new(pmid, ty, indom, sem, units));
        pmid
    }
    fn set(&self, pmid: Pmid, vals: Vec<(u32, Value)>) {
        self.values.lock().unwrap().insert(pmid, vals);
    }
    fn at_ms(&self, ms: u64) {
        *self.stamp.lock().unwrap() =
            Some(UNIX_EPOCH + Duration::from_secs(1_000_000_000) + Duration::from_millis(ms));
    }
    fn at(&self, secs: f64) {
        *self.stamp.lock().unwrap() = Some(UNIX_EPOCH + Duration::from_secs_f64(1e9 + secs));
    }
}

impl Pmapi for Fake {
    fn lookup(&self, name: &str) -> Result<Pmid, PmError> {
        self.descs.get(name).map(|d| d.pmid).ok_or(PmError::NAME)
    }
    fn names_of(&self, _p: Pmid) -> Result<Vec<String>, PmError> {
        Err(PmError::PMID)
    }
    fn children(&self, _n: &str) -> Result<Vec<Child>, PmError> {
        Err(PmError::NAME)
    }
    fn traverse(&self, n: &str) -> Result<Vec<(String, Pmid)>, PmError> {
        self.lookup(n).map(|p| vec![(n.to_string(), p)])
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.descs
            .values()
            .find(|d| d.pmid == pmid)
            .copied()
            .ok_or(PmError::PMID)
    }
    fn instances(&self, indom: InDom) -> Result<Vec<Instance>, PmError> {
        Ok(self.instances.get(&indom).cloned().unwrap_or_default())
    }
    fn text(&self, _t: TextTarget, _k: TextKind) -> Result<String, PmError> {
        Err(PmError::TEXT)
    }
    fn labels(&self, _d: u32, _t: LabelTarget) -> Result<LabelSet, PmError> {
        Ok(LabelSet::new())
    }
    fn metric_labels(&self, _p: Pmid) -> Result<LabelSet, PmError> {
        Ok(LabelSet::new())
    }
    fn instance_labels(&self, _i: InDom) -> Result<Vec<(u32, LabelSet)>, PmError> {
        Ok(Vec::new())
    }
    fn context_labels(&self) -> &LabelSet {
        &self.labels
    }
    fn fetch_with(&self, pmids: &[Pmid], _p: &Profile) -> FetchResult {
        let values = self.values.lock().unwrap();
        FetchResult {
            timestamp: self.stamp.lock().unwrap().unwrap_or(UNIX_EPOCH),
            values: pmids
                .iter()
                .map(|p| (*p, values.get(p).cloned().ok_or(PmError::PMID)))
                .collect(),
            names_changed: false,
            labels_changed: false,
        }
    }
    fn store(&self, _p: Pmid, _v: &[(u32, Value)]) -> Result<(), PmError> {
        Err(PmError::PERMISSION)
    }
    fn metadata_generation(&self) -> u64 {
        0
    }
    fn wait_ready(&self, _t: Duration) {}
}

/// Evaluates `expr` over `fake`: (descriptor, values per fetch) for the
/// fetches `setup` prepares.
fn eval(
    fake: &Fake,
    expr: &str,
    fetches: usize,
    mut setup: impl FnMut(usize),
) -> (Desc, Vec<MetricResult>) {
    let mut r = Registry::new();
    r.register("t.x", expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
    let ctx = DerivedContext::new(Arc::new(r));
    let view = ctx.view(fake);
    let pmid = view.lookup("t.x").unwrap_or_else(|e| panic!("{expr}: {e}"));
    let desc = view.desc(pmid).unwrap();
    let out = (0..fetches)
        .map(|k| {
            setup(k);
            view.fetch(&[pmid]).values[0].1.clone()
        })
        .collect();
    (desc, out)
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

/// Units with powers -1, 0 or 1 of each dimension and random scales.
/// (libpcp rescales an operand once per shared dimension, which is exact
/// for the powers metrics have, ±1; squared units would be off by the
/// scale, in libpcp as here, since we follow it.)
fn units() -> impl Strategy<Value = Units> {
    (-1i8..=1, -1i8..=1, -1i8..=1, 0u8..=4, 0u8..=5, -3i8..=3).prop_map(
        |(ds, dt, dc, ss, st, sc)| {
            Units::new(
                ds,
                dt,
                dc,
                if ds != 0 { ss } else { 0 },
                if dt != 0 { st } else { 0 },
                if dc != 0 { sc } else { 0 },
            )
        },
    )
}

/// The factor from `u` to base units (bytes, nanoseconds, single counts).
fn to_base(u: Units) -> f64 {
    let base = Units::new(u.dim_space, u.dim_time, u.dim_count, 0, 0, 0);
    u.conversion_factor(base).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn unit_algebra_preserves_quantities(ua in units(), ub in units(), va in 1.0f64..1e6, vb in 1.0f64..1e6, op in 0usize..4) {
        let mut fake = Fake::default();
        let a = fake.add("m.a", Type::Double, Semantics::Instant, ua, InDom::NULL);
        let b = fake.add("m.b", Type::Double, Semantics::Instant, ub, InDom::NULL);
        fake.set(a, vec![(PM_IN_NULL, Value::Double(va))]);
        fake.set(b, vec![(PM_IN_NULL, Value::Double(vb))]);
        let same_dims = ua.dim_space == ub.dim_space && ua.dim_time == ub.dim_time && ua.dim_count == ub.dim_count;
        let sym = ["+", "-", "*", "/"][op];
        // "none" against "count" is allowed too (pmConvScale's special
        // case), without rescaling: nothing to check but acceptance.
        let none_count = ua.dim_space == 0 && ub.dim_space == 0 && ua.dim_time == 0 && ub.dim_time == 0
            && ((ua.dim_count == 0 && ub.dim_count == 1) || (ua.dim_count == 1 && ub.dim_count == 0));
        if op < 2 && none_count {
            let (_, vals) = eval(&fake, &format!("m.a {sym} m.b"), 1, |_| {});
            prop_assert!(vals[0].is_ok());
            return Ok(());
        }
        if op < 2 && !same_dims {
            // Addition needs the same dimensions: refused.
            let mut r = Registry::new();
            r.register("t.x", &format!("m.a {sym} m.b")).unwrap();
            let ctx = DerivedContext::new(Arc::new(r));
            prop_assert_eq!(ctx.view(&fake).lookup("t.x"), Err(PmError::NAME));
            return Ok(());
        }
        let (desc, vals) = eval(&fake, &format!("m.a {sym} m.b"), 1, |_| {});
        let u = desc.units;
        let want_dims = match op {
            0 | 1 => (ua.dim_space, ua.dim_time, ua.dim_count),
            2 => (ua.dim_space + ub.dim_space, ua.dim_time + ub.dim_time, ua.dim_count + ub.dim_count),
            _ => (ua.dim_space - ub.dim_space, ua.dim_time - ub.dim_time, ua.dim_count - ub.dim_count),
        };
        prop_assert_eq!((u.dim_space, u.dim_time, u.dim_count), want_dims);
        // A product or quotient with a squared dimension falls under the
        // same once-per-dimension rescaling (see units()).
        if [want_dims.0, want_dims.1, want_dims.2].iter().any(|d| d.abs() > 1) {
            return Ok(());
        }
        let got = f64_of(&vals[0].as_ref().unwrap()[0].1);
        let (qa, qb) = (va * to_base(ua), vb * to_base(ub));
        let want = match op { 0 => qa + qb, 1 => qa - qb, 2 => qa * qb, _ => qa / qb };
        // A product or quotient's dimensions may cancel, leaving a factor
        // in the value (libpcp keeps the scales of the operands then).
        if op >= 2 && (want_dims.0 == 0 && ua.dim_space != 0 || want_dims.1 == 0 && ua.dim_time != 0 || want_dims.2 == 0 && ua.dim_count != 0) {
            return Ok(());
        }
        prop_assert!(close(got * to_base(u), want), "{} {} {}: {} {:?} ({}) vs {}", va, sym, vb, got, u, got * to_base(u), want);
    }

    #[test]
    fn counters_become_rates_after_the_first_fetch(start in 0u64..1_000_000, steps in prop::collection::vec((0u64..100_000, 50u64..10_000), 1..6), ms in any::<bool>()) {
        let mut fake = Fake::default();
        let units = if ms { Units::MILLISEC } else { Units::COUNT };
        let c = fake.add("m.c", Type::U64, Semantics::Counter, units, InDom::NULL);
        // (value, milliseconds since the start)
        let mut series = vec![(start, 0u64)];
        for (inc, dt) in &steps {
            let (v, t) = *series.last().unwrap();
            series.push((v + inc, t + dt));
        }
        for (expr, is_rate) in [("rate(m.c)", true), ("delta(m.c)", false)] {
            let (desc, vals) = eval(&fake, expr, series.len(), |k| {
                fake.set(c, vec![(PM_IN_NULL, Value::U64(series[k].0))]);
                fake.at_ms(series[k].1);
            });
            prop_assert_eq!(desc.sem, Semantics::Instant);
            prop_assert_eq!(vals[0].clone(), Ok(vec![]), "{} has no value on the first fetch", expr);
            for k in 1..series.len() {
                let got = f64_of(&vals[k].as_ref().unwrap()[0].1);
                let d = (series[k].0 - series[k - 1].0) as f64;
                let want = if is_rate {
                    let per_sec = d / ((series[k].1 - series[k - 1].1) as f64 / 1000.0);
                    // A time counter becomes utilisation: ms per s / 1000.
                    if ms { per_sec / 1000.0 } else { per_sec }
                } else { d };
                prop_assert!(close(got, want) || (got - want).abs() < 1e-6, "{}: {} vs {}", expr, got, want);
            }
            if is_rate {
                prop_assert_eq!(desc.ty, Type::Double);
                prop_assert_eq!(desc.units.dim_time, units.dim_time - 1);
            } else {
                prop_assert_eq!(desc.ty, Type::Double, "delta of a u64 is a double");
            }
        }
    }

    #[test]
    fn instances_pair_up_whatever_the_order(
        a in prop::collection::btree_map(0u32..20, 0u32..1000, 0..12),
        b in prop::collection::btree_map(0u32..20, 0u32..1000, 0..12),
        shuffle in any::<u64>(),
        k in 1u32..100,
    ) {
        let mut fake = Fake::default();
        fake.instances.insert(INDOM, (0..20).map(|i| Instance::new(i, format!("i{i} x"))).collect());
        let ma = fake.add("m.a", Type::U32, Semantics::Instant, Units::NONE, INDOM);
        let mb = fake.add("m.b", Type::U32, Semantics::Instant, Units::NONE, INDOM);
        let ms = fake.add("m.s", Type::U32, Semantics::Instant, Units::NONE, InDom::NULL);
        let mut la: Vec<(u32, Value)> = a.iter().map(|(i, v)| (*i, Value::U32(*v))).collect();
        let mut lb: Vec<(u32, Value)> = b.iter().map(|(i, v)| (*i, Value::U32(*v))).collect();
        // An agent may list instances in any order.
        let n = lb.len().max(1);
        lb.rotate_left((shuffle as usize) % n);
        if shuffle % 2 == 1 { la.reverse(); }
        fake.set(ma, la);
        fake.set(mb, lb);
        fake.set(ms, vec![(PM_IN_NULL, Value::U32(k))]);
        let (desc, vals) = eval(&fake, "m.a + m.b", 1, |_| {});
        prop_assert_eq!(desc.indom, INDOM);
        let mut got: Vec<(u32, u32)> = vals[0].as_ref().unwrap().iter().map(|(i, v)| (*i, match v { Value::U32(x) => *x, _ => 0 })).collect();
        got.sort_unstable();
        let want: Vec<(u32, u32)> = a.iter().filter_map(|(i, v)| b.get(i).map(|w| (*i, v.wrapping_add(*w)))).collect();
        prop_assert_eq!(got, want);
        // A singular operand applies to every instance.
        let (_, vals) = eval(&fake, "m.a * m.s", 1, |_| {});
        let mut got: Vec<(u32, u32)> = vals[0].as_ref().unwrap().iter().map(|(i, v)| (*i, match v { Value::U32(x) => *x, _ => 0 })).collect();
        got.sort_unstable();
        let want: Vec<(u32, u32)> = a.iter().map(|(i, v)| (*i, v.wrapping_mul(k))).collect();
        prop_assert_eq!(got, want);
        // matchinst picks by the first word of the name.
        let (_, vals) = eval(&fake, "matchinst(/^i1/, m.a)", 1, |_| {});
        let mut got: Vec<u32> = vals[0].as_ref().unwrap().iter().map(|e| e.0).collect();
        got.sort_unstable();
        let want: Vec<u32> = a.keys().copied().filter(|i| i.to_string().starts_with('1')).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn rates_cover_instances_present_in_both_fetches(
        first in prop::collection::btree_map(0u32..16, 0u64..1000, 0..10),
        second in prop::collection::btree_map(0u32..16, 1000u64..2000, 0..10),
    ) {
        let mut fake = Fake::default();
        fake.instances.insert(INDOM, (0..16).map(|i| Instance::new(i, format!("i{i}"))).collect());
        let c = fake.add("m.c", Type::U64, Semantics::Counter, Units::COUNT, INDOM);
        let (_, vals) = eval(&fake, "rate(m.c)", 2, |k| {
            let m = if k == 0 { &first } else { &second };
            fake.set(c, m.iter().map(|(i, v)| (*i, Value::U64(*v))).collect());
            fake.at(k as f64 * 2.0);
        });
        prop_assert_eq!(vals[0].clone(), Ok(vec![]));
        let mut got: Vec<u32> = vals[1].as_ref().unwrap().iter().map(|e| e.0).collect();
        got.sort_unstable();
        let want: Vec<u32> = second.keys().copied().filter(|i| first.contains_key(i)).collect();
        prop_assert_eq!(got, want);
        for (i, v) in vals[1].as_ref().unwrap() {
            prop_assert!(close(f64_of(v), (second[i] - first[i]) as f64 / 2.0));
        }
    }

    #[test]
    fn a_mixed_fetch_answers_each_asking_as_a_fetch_of_it_alone(
        asks in prop::collection::vec(0usize..5, 1..12),
        rounds in prop::collection::vec(prop::collection::btree_map(0u32..8, 0u64..1_000_000, 0..8), 2..4),
    ) {
        // Derived metrics and plain ones (their operands among them) in
        // any order, some asked twice: every asking gets the answer that
        // a context fetching that metric alone gets (the fetch moves
        // answers out where it can and copies only what is still held).
        let mut fake = Fake::default();
        fake.instances.insert(INDOM, (0..8).map(|i| Instance::new(i, format!("i{i}"))).collect());
        let c = fake.add("m.c", Type::U64, Semantics::Counter, Units::COUNT, INDOM);
        let g = fake.add("m.g", Type::U64, Semantics::Instant, Units::COUNT, INDOM);
        let exprs = ["delta(m.c)", "m.g + instant(m.c)", "sum(m.g)"];
        let mut r = Registry::new();
        for (i, e) in exprs.iter().enumerate() {
            r.register(&format!("t.d{i}"), e).unwrap();
        }
        let r = Arc::new(r);
        let set = |k: usize| {
            let vals = |add: u64| rounds[k].iter().map(|(i, v)| (*i, Value::U64(*v + add))).collect();
            fake.set(c, vals(k as u64 * 7));
            fake.set(g, vals(0));
            fake.at(k as f64);
        };
        let mixed = DerivedContext::new(Arc::clone(&r));
        let mixed = mixed.view(&fake);
        let names = ["t.d0", "t.d1", "t.d2", "m.c", "m.g"];
        let pmids: Vec<Pmid> = asks.iter().map(|&a| mixed.lookup(names[a]).unwrap()).collect();
        let alone: Vec<DerivedContext> = names.iter().map(|_| DerivedContext::new(Arc::clone(&r))).collect();
        for k in 0..rounds.len() {
            set(k);
            let got = mixed.fetch(&pmids);
            prop_assert_eq!(got.values.len(), pmids.len());
            // Each metric fetched alone in its own context, once a round.
            let want: Vec<MetricResult> = alone
                .iter()
                .zip(names)
                .map(|(ctx, name)| {
                    let own = ctx.view(&fake);
                    own.fetch(&[own.lookup(name).unwrap()]).values[0].1.clone()
                })
                .collect();
            for (a, (p, v)) in asks.iter().zip(&got.values) {
                prop_assert_eq!(*p, pmids[asks.iter().position(|x| x == a).unwrap()]);
                prop_assert_eq!(v, &want[*a], "{} at fetch {}", names[*a], k);
            }
        }
    }

    #[test]
    fn the_parser_never_panics_and_points_into_the_text(text in ".{0,80}") {
        if let Err(e) = parse(&text) {
            prop_assert!(e.pos >= -1 && e.pos < text.len().max(1) as isize, "{:?} {:?}", text, e);
        }
    }

    #[test]
    fn operator_soup_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "a", "b.c", "1", "2.5", "(", ")", "+", "-", "*", "/", "<", "==", "&&", "||", "!", "?", ":", ",",
        "[x]", "rate(", "avg(", "rescale(", "\"kbyte\"", "matchinst(", "/r/", "mkconst(", "type=u32", "scalar(",
    ]), 0..20)) {
        let text = parts.join(" ");
        let _ = parse(&text);
    }
}
