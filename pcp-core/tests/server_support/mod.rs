//! A small agent and a bare PDU client for the server's tests: the client
//! speaks the protocol with the crate's own codec, as libpcp would, so
//! these tests need no PCP installed.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pcp_core::agent::{Agent, IndomDef, MetricDef, Metrics, Sink, Spec, TablePmda};
use pcp_core::pdu::frame::read_pdu;
use pcp_core::pdu::{decode, CredsPdu, Encoder, FetchPdu, Pdu, ProfilePdu};
use pcp_core::*;

/// The test agent's domain.
pub const DOMAIN: u32 = 400;

const COLOURS: IndomDef =
    IndomDef::new(0, "Three colours").instances(&[(0, "red"), (1, "green light"), (2, "blue")]);

pcp_core::metrics! {
    pub enum M {
        Setting = MetricDef::u32("demo.setting", 0, 0).storable().oneline("a storable setting").help("A setting clients may store into."),
        Colour = MetricDef::i32("demo.colour", 0, 1).indom(&COLOURS).oneline("a value per colour"),
        Name = MetricDef::string("demo.name", 0, 2).discrete().oneline("a name"),
        Seconds = MetricDef::double("demo.seconds", 1, 0).counter().units(Units::SEC).oneline("seconds"),
        Big = MetricDef::u64("demo.big", 1, 1).oneline("a 64-bit value"),
        Extra = MetricDef::u32("demo.extra", 2, 0).oneline("appears when asked to"),
    }
}

/// The test agent: `grow` set makes `demo.extra` appear at the next name
/// refresh (a namespace change clients are told of).
#[derive(Debug)]
pub struct Demo {
    pub setting: u32,
    pub grow: Arc<AtomicBool>,
    grown: bool,
}

impl Agent for Demo {
    type Metric = M;
    fn value(&mut self, m: M, out: &mut Sink<'_>) -> Result<(), PmError> {
        match m {
            M::Setting => out.set(self.setting),
            M::Colour => out.put_all([(0, -1i32), (1, 2), (2, 3)]),
            M::Name => out.set("demo"),
            M::Seconds => out.set(1.5f64),
            M::Big => out.set(1u64 << 40),
            M::Extra => out.set(7u32),
        }
        Ok(())
    }
    fn instance_labels(
        &mut self,
        indom: InDom,
        _: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let _ = indom;
        Ok(vec![(2, LabelSet::new().with("shade", "dark"))])
    }
    fn store(&mut self, m: M, _: u32, v: &Value, _: &ClientContext) -> Result<(), PmError> {
        match (m, v) {
            (M::Setting, Value::U32(x)) => {
                self.setting = *x;
                Ok(())
            }
            _ => Err(PmError::PERMISSION),
        }
    }
    fn refresh_names(&mut self, table: &mut Metrics<M>) -> bool {
        if self.grow.load(Ordering::Acquire) && !self.grown {
            self.grown = true;
            let spec = Spec {
                cluster: 2,
                item: 1,
                ty: Type::U32,
                sem: Semantics::Instant,
                units: Units::NONE,
                indom: None,
            };
            table.add("demo.more", spec, M::Extra).unwrap();
            return true;
        }
        false
    }
}

/// A host with the test agent; the flag grows its namespace.
pub fn demo_host() -> (Host, Arc<AtomicBool>) {
    let grow = Arc::new(AtomicBool::new(false));
    let agent = Demo {
        setting: 5,
        grow: Arc::clone(&grow),
        grown: false,
    };
    let mut host = Host::new().with_timeout(Duration::from_secs(2));
    host.load(Box::new(TablePmda::new("demo", DOMAIN, agent).unwrap()))
        .unwrap();
    (host, grow)
}

/// The PMID of `demo.<item>` names.
pub fn pmid(cluster: u32, item: u32) -> Pmid {
    Pmid::from_parts(DOMAIN, cluster, item)
}

/// Encodes one PDU.
pub fn enc(pdu: &Pdu) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::default().encode(pdu, 0, &mut out);
    out
}

/// The CREDS a libpcp client sends (version 2, `flags`).
pub fn creds(flags: u32) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::default().encode(&Pdu::Creds(CredsPdu::version(flags)), 4242, &mut out);
    out
}

/// An empty profile for context 0.
pub fn profile() -> Vec<u8> {
    enc(&Pdu::Profile(ProfilePdu::from_profile(0, &Profile::all())))
}

/// A HIGHRES_FETCH (or FETCH) of `pmids` in context 0.
pub fn fetch(pmids: &[Pmid], highres: bool) -> Vec<u8> {
    let f = FetchPdu {
        ctx: 0,
        pmids: pmids.to_vec(),
    };
    enc(&if highres {
        Pdu::HighResFetch(f)
    } else {
        Pdu::Fetch(f)
    })
}

/// Every PDU in `bytes` (replies may hold two: a state change, then a result).
pub fn all(bytes: &[u8]) -> Vec<Pdu> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let (_, p) = decode(&bytes[at..at + len]).expect("reply decodes");
        out.push(p);
        at += len;
    }
    out
}

/// A client over a stream: reads the greeting, sends CREDS.
pub struct Client<S: Read + Write> {
    pub s: S,
    buf: Vec<u8>,
    /// The connection acknowledgement.
    pub greeting: Pdu,
}

impl<S: Read + Write> Client<S> {
    /// Reads the acknowledgement; then, unless refused, sends CREDS.
    pub fn open(mut s: S) -> Client<S> {
        let mut buf = Vec::new();
        read_pdu(&mut s, &mut buf, 1 << 20)
            .expect("acknowledgement")
            .expect("server said something");
        let (_, greeting) = decode(&buf).unwrap();
        let mut c = Client { s, buf, greeting };
        if matches!(c.greeting, Pdu::Error(ref e) if e.code == 0) {
            c.s.write_all(&creds(0)).unwrap();
        }
        c
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    /// Reads one PDU (`None` when the server hung up).
    pub fn recv(&mut self) -> Option<Pdu> {
        match read_pdu(&mut self.s, &mut self.buf, 64 << 20) {
            Ok(Some(_)) => Some(decode(&self.buf).expect("reply decodes").1),
            _ => None,
        }
    }

    /// Sends a request and reads one reply.
    pub fn ask(&mut self, bytes: &[u8]) -> Pdu {
        self.send(bytes);
        self.recv().expect("a reply")
    }
}
