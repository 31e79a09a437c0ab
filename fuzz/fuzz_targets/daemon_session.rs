//! Fuzzes the daemon loop's request handling: a stream of arbitrary PDUs
//! from "pmcd" never panics the session, and every reply it writes is a
//! well-formed PDU.
//!
//! `cargo +nightly fuzz run daemon_session` (from this directory).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcp_core::agent::{IndomDef, MetricDef, Metrics};
use pcp_core::daemon::{DaemonOptions, Session};
use pcp_core::pdu::{decode, frame::read_pdu};
use pcp_core::*;

struct Agent {
    table: Metrics<()>,
}

impl Pmda for Agent {
    fn name(&self) -> &str {
        "fuzz"
    }
    fn domain(&self) -> u32 {
        400
    }
    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.table.desc(pmid)
    }
    fn instances(
        &mut self,
        _: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        Ok(vec![Instance::new(0, "a b"), Instance::new(1, "c")])
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        req.pmids
            .iter()
            .map(|p| match p.item() % 3 {
                0 => Ok(vec![(0, Value::U32(1)), (1, Value::Double(2.0))]),
                1 => Ok(vec![(PM_IN_NULL, Value::String("x".into()))]),
                _ => Err(PmError::AGAIN),
            })
            .collect()
    }
}

fuzz_target!(|data: &[u8]| {
    const INDOM: IndomDef = IndomDef::new(0, "");
    const DEFS: &[((), MetricDef)] = &[((), MetricDef::u32("fuzz.m", 0, 0).indom(&INDOM).oneline("m"))];
    let mut agent = Agent {
        table: Metrics::from_defs(400, DEFS).expect("rows"),
    };
    let mut session = Session::new(&mut agent, &DaemonOptions::default());
    let mut r = data;
    let mut buf = Vec::new();
    while let Ok(Some(_)) = read_pdu(&mut r, &mut buf, 1 << 20) {
        if let Some(reply) = session.handle(&buf) {
            decode(reply).expect("replies are well-formed PDUs");
        }
    }
});
