//! Fuzzes the pmcd server's session loop: any byte stream from a
//! "client", read by the connection code (framing, limits) and handled by
//! a session over a host with a small agent and the pmcd agent, never
//! panics; everything the server writes back is a sequence of well-formed
//! PDUs, starting with the connection acknowledgement; a malformed PDU
//! ends the session (the stream is not read further).
//!
//! `cargo +nightly fuzz run pmcd_session` (from this directory).
#![no_main]

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pcp_core::agent::{Agent, IndomDef, MetricDef, Sink, TablePmda};
use pcp_core::pdu::decode;
use pcp_core::server::conn::{serve, ConnLimits};
use pcp_core::server::{pmcd_agent, Ops, ServerState, Session, SessionLimits};
use pcp_core::*;

const COLOURS: IndomDef = IndomDef::new(0, "colours").instances(&[(0, "red"), (1, "green")]);
pcp_core::metrics! {
    enum M {
        Setting = MetricDef::u32("fuzz.setting", 0, 0).storable().oneline("setting"),
        Colour = MetricDef::i32("fuzz.colour", 0, 1).indom(&COLOURS).oneline("colour"),
        Name = MetricDef::string("fuzz.name", 0, 2).oneline("name"),
        Big = MetricDef::u64("fuzz.big", 1, 0).counter().oneline("big"),
    }
}

#[derive(Debug, Default)]
struct Fuzz {
    setting: u32,
}

impl Agent for Fuzz {
    type Metric = M;
    fn value(&mut self, m: M, out: &mut Sink<'_>) -> Result<(), PmError> {
        match m {
            M::Setting => out.set(self.setting),
            M::Colour => out.put_all([(0, 1i32), (1, 2)]),
            M::Name => out.set("x"),
            M::Big => out.set(7u64),
        }
        Ok(())
    }
    fn store(&mut self, _: M, _: u32, v: &Value, _: &ClientContext) -> Result<(), PmError> {
        self.setting = u32::try_from(v)?;
        Ok(())
    }
}

/// One host for every input (loading agents starts threads).
fn host() -> &'static (Arc<Host>, Arc<ServerState>) {
    static HOST: OnceLock<(Arc<Host>, Arc<ServerState>)> = OnceLock::new();
    HOST.get_or_init(|| {
        let state = Arc::new(ServerState::new("fuzz", 1, false));
        let mut host = Host::new().with_timeout(Duration::from_secs(1));
        host.load(Box::new(TablePmda::new("fuzz", 400, Fuzz::default()).unwrap()))
            .unwrap();
        host.load(Box::new(pmcd_agent(Arc::clone(&state)))).unwrap();
        state.set_agents(host.agents());
        (Arc::new(host), state)
    })
}

/// The client's bytes in, the server's bytes out.
struct Pipe<'a> {
    input: &'a [u8],
    output: Vec<u8>,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let (host, state) = host();
    let slot = state.add_client();
    let client = ClientContext {
        slot,
        ..ClientContext::user(1000, 1000)
    };
    let ops = Ops {
        fetch: true,
        store: true,
    };
    let mut session = Session::new(
        Arc::clone(host),
        Arc::clone(state),
        client,
        ops,
        SessionLimits::default(),
    );
    let mut pipe = Pipe {
        input: data,
        output: Vec::new(),
    };
    let limits = ConnLimits {
        deadline: Duration::from_secs(1),
        idle: None,
        max_pdu: 64 << 10,
    };
    let _ = serve(&mut pipe, &mut session, &limits);
    state.remove_client(slot);
    // Every reply is a whole, well-formed PDU; the first is the greeting.
    let out = &pipe.output;
    let mut at = 0;
    let mut first = true;
    while at < out.len() {
        assert!(out.len() - at >= 12, "a partial PDU was written");
        let len = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        let (_, pdu) = decode(&out[at..at + len]).expect("replies decode");
        if first {
            assert!(matches!(pdu, pcp_core::pdu::Pdu::Error(ref e) if e.extra.is_some()));
            first = false;
        }
        at += len;
    }
});
