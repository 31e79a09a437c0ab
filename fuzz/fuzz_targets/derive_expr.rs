//! Fuzzes the derived-metric language (pcp_core::derive): any text parses
//! or fails with an error whose position lies in the text, never a panic;
//! what parses is bound and evaluated over two fetches of a small fake
//! host (indom, singular, counter, string and float operands); the same
//! text read as a pmLoadDerivedConfig file loads or is reported.
//!
//! `cargo +nightly fuzz run derive_expr` (from this directory).
#![no_main]

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use pcp_core::derive::{parse, DerivedContext, LoadReport, Registry};
use pcp_core::namespace::Child;
use pcp_core::pmda::{LabelTarget, TextKind, TextTarget};
use pcp_core::{
    Desc, FetchResult, InDom, Instance, LabelSet, PmError, Pmapi, Pmid, Profile, Semantics, Type,
    Units, Value, PM_IN_NULL,
};

struct Fake {
    descs: Vec<(&'static str, Desc)>,
    round: Mutex<u64>,
    labels: LabelSet,
}

const INDOM: InDom = InDom::from_parts(9, 1);

impl Fake {
    fn new() -> Fake {
        let d = |i, ty, indom, sem, units| Desc::new(Pmid::from_parts(9, 0, i), ty, indom, sem, units);
        Fake {
            descs: vec![
                ("a", d(0, Type::U32, INDOM, Semantics::Instant, Units::NONE)),
                ("b.c", d(1, Type::U64, InDom::NULL, Semantics::Counter, Units::MILLISEC)),
                ("x_1", d(2, Type::Double, INDOM, Semantics::Counter, Units::KBYTES)),
                ("s", d(3, Type::String, InDom::NULL, Semantics::Discrete, Units::NONE)),
                ("f", d(4, Type::Float, INDOM, Semantics::Instant, Units::COUNT)),
                ("n", d(5, Type::I32, InDom::NULL, Semantics::Discrete, Units::NONE)),
            ],
            round: Mutex::new(0),
            labels: LabelSet::new(),
        }
    }
}

impl Pmapi for Fake {
    fn lookup(&self, name: &str) -> Result<Pmid, PmError> {
        self.descs.iter().find(|(n, _)| *n == name).map(|(_, d)| d.pmid).ok_or(PmError::NAME)
    }
    fn names_of(&self, p: Pmid) -> Result<Vec<String>, PmError> {
        self.descs.iter().find(|(_, d)| d.pmid == p).map(|(n, _)| vec![n.to_string()]).ok_or(PmError::PMID)
    }
    fn children(&self, _n: &str) -> Result<Vec<Child>, PmError> {
        Err(PmError::NAME)
    }
    fn traverse(&self, n: &str) -> Result<Vec<(String, Pmid)>, PmError> {
        self.lookup(n).map(|p| vec![(n.to_string(), p)])
    }
    fn desc(&self, p: Pmid) -> Result<Desc, PmError> {
        self.descs.iter().find(|(_, d)| d.pmid == p).map(|(_, d)| *d).ok_or(PmError::PMID)
    }
    fn instances(&self, _i: InDom) -> Result<Vec<Instance>, PmError> {
        Ok((0..4).map(|i| Instance::new(i, format!("i{i} inst"))).collect())
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
        let mut round = self.round.lock().unwrap();
        *round += 1;
        let r = *round;
        // Instances come and go between rounds; one operand fails once.
        let insts: Vec<u32> = (0u32..4).filter(|i| (*i as u64 + r) % 3 != 0).collect();
        let values = pmids
            .iter()
            .map(|p| {
                let v = match p.item() {
                    0 => Ok(insts.iter().map(|i| (*i, Value::U32(*i * 7 + r as u32))).collect()),
                    1 if r == 3 => Err(PmError::AGAIN),
                    1 => Ok(vec![(PM_IN_NULL, Value::U64(1000 * r))]),
                    2 => Ok(insts.iter().map(|i| (*i, Value::Double(r as f64 * 1.5 - *i as f64))).collect()),
                    3 => Ok(vec![(PM_IN_NULL, Value::String(format!("r{r}")))]),
                    4 => Ok(insts.iter().map(|i| (*i, Value::Float(*i as f32 / 3.0))).collect()),
                    _ => Ok(vec![(PM_IN_NULL, Value::I32(-(r as i32)))]),
                };
                (*p, v)
            })
            .collect();
        FetchResult {
            timestamp: UNIX_EPOCH + Duration::from_secs(1_000_000_000 + r),
            values,
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

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse(&text) {
        Err(e) => {
            assert!(e.pos >= -1 && (e.pos as i64) < (text.len() as i64).max(1), "{e:?}");
        }
        Ok(_) => {
            let mut r = Registry::new();
            if r.register("t.x", &text).is_ok() {
                let fake = Fake::new();
                let ctx = DerivedContext::new(Arc::new(r));
                let view = ctx.view(&fake);
                if let Ok(p) = view.lookup("t.x") {
                    let desc = view.desc(p).expect("a usable metric has a descriptor");
                    for _ in 0..4 {
                        let res = view.fetch(&[p]);
                        if let Ok(list) = &res.values[0].1 {
                            for (inst, v) in list {
                                // Values have the descriptor's type; a
                                // singular metric has only PM_IN_NULL.
                                assert_eq!(v.ty(), desc.ty, "{text}");
                                if desc.indom.is_null() {
                                    assert_eq!(*inst, PM_IN_NULL, "{text}");
                                }
                            }
                        }
                    }
                }
                let _ = ctx.add(&fake, "t.y", &text);
            }
        }
    }
    // The same bytes as a configuration file.
    let mut r = Registry::new();
    let mut report = LoadReport::default();
    r.load_text("fuzz", &text, &mut report);
});
