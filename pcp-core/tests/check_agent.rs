//! `check_agent` finds each broken rule: one deliberately wrong agent per
//! rule, and a right one that passes.

use pcp_core::testing::{check_agent, CheckFailed};
use pcp_core::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    MissingDesc,
    ForeignPmid,
    MissingHelp,
    WrongType,
    SingularWithInstance,
    IndomWithNull,
    InstanceTwiceInFetch,
    InstanceIdListedTwice,
    InstanceNameNotUnique,
    UnlistedInstance,
    OversizeLabels,
    ShortFetch,
    UnknownPmidAnswered,
}

const ALL: [Fault; 13] = [
    Fault::MissingDesc,
    Fault::ForeignPmid,
    Fault::MissingHelp,
    Fault::WrongType,
    Fault::SingularWithInstance,
    Fault::IndomWithNull,
    Fault::InstanceTwiceInFetch,
    Fault::InstanceIdListedTwice,
    Fault::InstanceNameNotUnique,
    Fault::UnlistedInstance,
    Fault::OversizeLabels,
    Fault::ShortFetch,
    Fault::UnknownPmidAnswered,
];

const D: u32 = 400;

#[derive(Debug)]
struct Bad {
    fault: Fault,
    ns: Namespace,
}

impl Bad {
    fn new(fault: Fault) -> Bad {
        let mut ns = Namespace::new();
        ns.insert("bad.single", Pmid::from_parts(D, 0, 0)).unwrap();
        ns.insert("bad.multi", Pmid::from_parts(D, 0, 1)).unwrap();
        if fault == Fault::ForeignPmid {
            ns.insert("bad.foreign", Pmid::from_parts(D + 1, 0, 2))
                .unwrap();
        }
        Bad { fault, ns }
    }
    fn indom() -> InDom {
        InDom::from_parts(D, 0)
    }
}

impl Pmda for Bad {
    fn name(&self) -> &str {
        "bad"
    }
    fn domain(&self) -> u32 {
        D
    }
    fn namespace(&self) -> &Namespace {
        &self.ns
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        let (ty, indom) = match (pmid.domain(), pmid.cluster(), pmid.item()) {
            (D, 0, 0) if self.fault == Fault::MissingDesc => return Err(PmError::PMID),
            (D, 0, 0) => (Type::U32, InDom::NULL),
            (D, 0, 1) => (Type::U64, Bad::indom()),
            (_, 0, 2) => (Type::U32, InDom::NULL),
            _ => return Err(PmError::PMID),
        };
        Ok(Desc::new(pmid, ty, indom, Semantics::Instant, Units::NONE))
    }
    fn text(&self, t: TextTarget, _: TextKind, _: &ClientContext) -> Result<String, PmError> {
        match t {
            TextTarget::Metric(p) if p.item() == 1 && self.fault == Fault::MissingHelp => {
                Err(PmError::TEXT)
            }
            _ => Ok("help".into()),
        }
    }
    fn labels(&self, target: LabelTarget, _: &ClientContext) -> Result<LabelSet, PmError> {
        Ok(match target {
            LabelTarget::Item(_) if self.fault == Fault::OversizeLabels => {
                LabelSet::new().with("big", "x".repeat(70_000))
            }
            _ => LabelSet::new(),
        })
    }
    fn instances(&mut self, indom: InDom, _: &ClientContext) -> Result<Vec<Instance>, PmError> {
        if indom != Bad::indom() {
            return Err(PmError::INDOM);
        }
        let mut v = vec![Instance::new(0, "a"), Instance::new(1, "b x")];
        match self.fault {
            Fault::InstanceIdListedTwice => v.push(Instance::new(1, "c")),
            Fault::InstanceNameNotUnique => v.push(Instance::new(2, "b y")),
            _ => {}
        }
        Ok(v)
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        let mut out: Vec<MetricResult> = req
            .pmids
            .iter()
            .map(|p| match (p.cluster(), p.item()) {
                (0, 0) => Ok(match self.fault {
                    Fault::WrongType => vec![(PM_IN_NULL, Value::U64(1))],
                    Fault::SingularWithInstance => vec![(0, Value::U32(1))],
                    _ => vec![(PM_IN_NULL, Value::U32(1))],
                }),
                (0, 1) => Ok(match self.fault {
                    Fault::IndomWithNull => vec![(PM_IN_NULL, Value::U64(1))],
                    Fault::InstanceTwiceInFetch => vec![(0, Value::U64(1)), (0, Value::U64(2))],
                    Fault::UnlistedInstance => vec![(0, Value::U64(1)), (7, Value::U64(2))],
                    _ => vec![(0, Value::U64(1)), (1, Value::U64(2))],
                }),
                _ if self.fault == Fault::UnknownPmidAnswered => Ok(vec![]),
                _ => Err(PmError::PMID),
            })
            .collect();
        if self.fault == Fault::ShortFetch {
            out.pop();
        }
        out
    }
}

fn check(fault: Fault) -> Result<testing::CheckReport, CheckFailed> {
    check_agent(&mut Bad::new(fault))
}

#[test]
fn a_right_agent_passes() {
    let r = check(Fault::None).unwrap();
    assert_eq!((r.metrics, r.indoms, r.values), (2, 1, 3));
}

#[test]
fn each_broken_rule_is_reported() {
    for fault in ALL {
        let err = check(fault).expect_err(&format!("{fault:?} passed"));
        let text = err.to_string();
        let expect = match fault {
            Fault::MissingDesc => "no descriptor",
            Fault::ForeignPmid => "outside the agent's domain",
            Fault::MissingHelp => "no one-line help",
            Fault::WrongType => "not of the descriptor's type",
            Fault::SingularWithInstance => "singular metric answered with instances",
            Fault::IndomWithNull => "PM_IN_NULL value",
            Fault::InstanceTwiceInFetch => "an instance answered twice",
            Fault::InstanceIdListedTwice => "listed twice",
            Fault::InstanceNameNotUnique => "not unique to its first space",
            Fault::UnlistedInstance => "does not list",
            Fault::OversizeLabels => "bytes of JSON",
            Fault::ShortFetch => "answers for",
            Fault::UnknownPmidAnswered => "unknown PMID",
            Fault::None => unreachable!(),
        };
        assert!(text.contains(expect), "{fault:?}: {text}");
    }
}
