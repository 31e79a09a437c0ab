//! One agent, one answer: a fetch through the in-process `Host` and through
//! the PDU loop pmcd drives give the same normalised values, even from an
//! agent that breaks the rules (wrong types, a duplicate instance, an
//! instance on a singular metric).

use pcp_core::daemon::{DaemonOptions, Session};
use pcp_core::pdu::{
    decode, value_from_block, value_from_insitu, Encoder, FetchPdu, Pdu, VSetValues,
};
use pcp_core::*;

const D: u32 = 401;

#[derive(Debug)]
struct Sloppy {
    ns: Namespace,
}

impl Sloppy {
    fn new() -> Sloppy {
        let mut ns = Namespace::new();
        for (i, n) in ["sloppy.u32", "sloppy.float", "sloppy.dups", "sloppy.single"]
            .iter()
            .enumerate()
        {
            ns.insert(n, Pmid::from_parts(D, 0, i as u32)).unwrap();
        }
        Sloppy { ns }
    }
}

impl Pmda for Sloppy {
    fn name(&self) -> &str {
        "sloppy"
    }
    fn domain(&self) -> u32 {
        D
    }
    fn namespace(&self) -> &Namespace {
        &self.ns
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        let (ty, indom) = match pmid.item() {
            0 => (Type::U32, InDom::NULL),
            1 => (Type::Float, InDom::NULL),
            2 => (Type::I64, InDom::from_parts(D, 0)),
            3 => (Type::U32, InDom::NULL),
            _ => return Err(PmError::PMID),
        };
        Ok(Desc::new(pmid, ty, indom, Semantics::Instant, Units::NONE))
    }
    fn instances(&mut self, _: InDom, _: &ClientContext) -> Result<Vec<Instance>, PmError> {
        Ok(vec![Instance::new(1, "one"), Instance::new(2, "two")])
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        req.pmids
            .iter()
            .map(|p| match p.item() {
                // A u64 for a u32 metric, a double for a float one.
                0 => Ok(vec![(PM_IN_NULL, Value::U64(7))]),
                1 => Ok(vec![(PM_IN_NULL, Value::Double(0.25))]),
                // Instance 2 twice, unsigned values for a signed metric.
                2 => Ok(vec![
                    (2, Value::U32(20)),
                    (1, Value::U32(10)),
                    (2, Value::U32(99)),
                ]),
                // An instance id on a singular metric.
                3 => Ok(vec![(5, Value::U32(1))]),
                _ => Err(PmError::PMID),
            })
            .collect()
    }
}

fn pmids() -> Vec<Pmid> {
    (0..4).map(|i| Pmid::from_parts(D, 0, i)).collect()
}

fn through_host() -> Vec<MetricResult> {
    let mut host = Host::new();
    host.load(Box::new(Sloppy::new())).unwrap();
    host.fetch(&pmids())
        .values
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

fn through_pdu_loop() -> Vec<MetricResult> {
    let mut agent = Sloppy::new();
    let mut session = Session::new(&mut agent, &DaemonOptions::default());
    let mut req = Vec::new();
    let fetch = Pdu::Fetch(FetchPdu {
        ctx: 0,
        pmids: pmids(),
    });
    Encoder::default().encode(&fetch, 0, &mut req);
    let reply = session.handle(&req).expect("FETCH is answered").to_vec();
    let (_, Pdu::Result(r)) = decode(&reply).unwrap() else {
        panic!("expected a RESULT")
    };
    let probe = Sloppy::new();
    r.vsets
        .iter()
        .map(|vs| {
            let ty = probe.desc(vs.pmid).unwrap().ty;
            match &vs.values {
                VSetValues::Error(code) => Err(PmError::from_code(*code)),
                VSetValues::Insitu(v) => v
                    .iter()
                    .map(|(i, w)| Ok((*i, value_from_insitu(*w, ty)?)))
                    .collect(),
                VSetValues::Blocks { values, .. } => values
                    .iter()
                    .map(|(i, b)| Ok((*i, value_from_block(b)?)))
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn host_and_pdu_loop_give_one_normalised_answer() {
    let host = through_host();
    let pdu = through_pdu_loop();
    assert_eq!(host, pdu);
    assert_eq!(host[0], Ok(vec![(PM_IN_NULL, Value::U32(7))]));
    assert_eq!(host[1], Ok(vec![(PM_IN_NULL, Value::Float(0.25))]));
    assert_eq!(host[2], Ok(vec![(2, Value::I64(20)), (1, Value::I64(10))]));
    assert_eq!(host[3], Err(PmError::INST));
}

#[test]
fn the_sloppy_agent_fails_its_conformance_check() {
    let err = testing::check_agent(&mut Sloppy::new()).unwrap_err();
    assert!(err.violations.len() >= 4, "{err}");
}
