//! The daemon-PMDA loop against a simulated pmcd on an in-memory pipe
//! pair: handshake, notready start, every request type, per-client
//! profiles and credentials, store, dynamic names and the state flags,
//! malformed input, EOF; and a replay of the pmcd requests captured with
//! the reference raw PMDA, whose replies ours must match.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcp_core::agent::{Metrics, Spec};
use pcp_core::daemon::{run_daemon, run_daemon_with, DaemonError, DaemonOptions};
use pcp_core::pdu::frame::read_pdu;
use pcp_core::pdu::*;
use pcp_core::*;

#[allow(dead_code)]
#[path = "../examples/pdu_test_pmda.rs"]
mod example;
use example::agent::{TestAgent, DOMAIN};

/// pmcd's side of the pipes.
struct FakePmcd {
    to_agent: UnixStream,
    from_agent: UnixStream,
    buf: Vec<u8>,
    daemon: Option<JoinHandle<Result<(), DaemonError>>>,
}

impl FakePmcd {
    fn start_with<F>(opts: DaemonOptions, factory: F) -> (FakePmcd, CredsPdu)
    where
        F: FnOnce() -> Result<Box<dyn Pmda>, String> + Send + 'static,
    {
        let (agent_in, to_agent) = UnixStream::pair().unwrap();
        let (from_agent, agent_out) = UnixStream::pair().unwrap();
        from_agent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let daemon =
            std::thread::spawn(move || run_daemon_with(factory, agent_in, agent_out, &opts));
        let mut p = FakePmcd {
            to_agent,
            from_agent,
            buf: Vec::new(),
            daemon: Some(daemon),
        };
        let (h, creds) = p.recv_raw();
        assert_eq!(h.from, std::process::id(), "CREDS carries the agent's pid");
        let Pdu::Creds(creds) = creds else {
            panic!("first PDU is not CREDS: {creds:?}")
        };
        p.send(4242, &Pdu::Creds(CredsPdu::version(0)));
        (p, creds)
    }

    fn start() -> FakePmcd {
        FakePmcd::start_with(DaemonOptions::default(), || Ok(Box::new(TestAgent::new()))).0
    }

    fn send(&mut self, from: u32, pdu: &Pdu) {
        let mut out = Vec::new();
        Encoder::default().encode(pdu, from, &mut out);
        self.to_agent.write_all(&out).unwrap();
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.to_agent.write_all(bytes).unwrap();
    }

    fn recv_raw(&mut self) -> (Header, Pdu) {
        read_pdu(&mut self.from_agent, &mut self.buf, 1 << 24)
            .expect("reply from the agent")
            .expect("agent closed its output");
        decode(&self.buf).expect("agent sends well-formed PDUs")
    }

    fn call(&mut self, from: u32, pdu: &Pdu) -> Pdu {
        self.send(from, pdu);
        let (h, p) = self.recv_raw();
        assert_eq!(h.from, 0, "replies use from = 0");
        p
    }

    /// Closes pmcd's end; the daemon must exit cleanly.
    fn finish(mut self) {
        let _ = self.to_agent.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = self.from_agent.read_to_end(&mut rest);
        assert!(rest.is_empty(), "stray bytes after EOF: {rest:?}");
        let r = self.daemon.take().unwrap().join().expect("daemon thread");
        assert!(r.is_ok(), "daemon ended with {r:?}");
    }
}

fn pmid(c: u32, i: u32) -> Pmid {
    Pmid::from_parts(DOMAIN, c, i)
}

fn indom() -> InDom {
    InDom::from_parts(DOMAIN, 0)
}

fn fetch(pmids: &[Pmid]) -> Pdu {
    Pdu::Fetch(FetchPdu {
        ctx: 0,
        pmids: pmids.to_vec(),
    })
}

fn result(p: Pdu) -> ResultPdu {
    match p {
        Pdu::Result(r) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn error_code(p: Pdu) -> i32 {
    match p {
        Pdu::Error(e) => e.code,
        other => panic!("expected ERROR, got {other:?}"),
    }
}

fn insts_of(r: &ResultPdu, k: usize) -> Vec<u32> {
    match &r.vsets[k].values {
        VSetValues::Insitu(v) => v.iter().map(|x| x.0).collect(),
        VSetValues::Blocks { values, .. } => values.iter().map(|x| x.0).collect(),
        VSetValues::Error(c) => panic!("error {c}"),
    }
}

fn names(p: Pdu) -> Vec<(Option<i32>, String)> {
    let Pdu::PmnsNames(n) = p else {
        panic!("expected PMNS_NAMES, got {p:?}")
    };
    n.names
        .iter()
        .enumerate()
        .map(|(k, b)| {
            (
                n.status.as_ref().map(|s| s[k]),
                String::from_utf8(b.clone()).unwrap(),
            )
        })
        .collect()
}

fn label_sets(p: Pdu) -> Vec<(u32, String, Vec<u8>)> {
    let Pdu::Label(l) = p else {
        panic!("expected LABEL, got {p:?}")
    };
    l.sets
        .iter()
        .map(|s| {
            (
                s.inst,
                String::from_utf8(s.json.clone()).unwrap(),
                s.labels.iter().map(|x| x.flags).collect(),
            )
        })
        .collect()
}

#[test]
fn fetch_encodes_every_value_type_in_request_order() {
    let mut p = FakePmcd::start();
    let want = [
        pmid(0, 6),
        pmid(0, 1),
        pmid(0, 2),
        pmid(0, 3),
        pmid(0, 4),
        pmid(0, 5),
        pmid(0, 7),
        pmid(0, 8),
        pmid(9, 9),
        pmid(0, 1),
    ];
    let r = result(p.call(0, &fetch(&want)));
    assert_eq!(r.vsets.len(), want.len());
    for (v, w) in r.vsets.iter().zip(&want) {
        assert_eq!(v.pmid, *w);
    }
    let block = |k: usize, i: usize| match &r.vsets[k].values {
        VSetValues::Blocks { valfmt, values } => {
            assert_eq!(*valfmt, PM_VAL_DPTR);
            value_from_block(&values[i].1).unwrap()
        }
        other => panic!("vset {k} not in blocks: {other:?}"),
    };
    assert_eq!(block(0, 0), Value::String("hello pmcd".into()));
    assert_eq!(
        r.vsets[1].values,
        VSetValues::Insitu(vec![(PM_IN_NULL, (-42i32) as u32)])
    );
    assert_eq!(block(2, 0), Value::I64(-(1 << 33)));
    assert_eq!(block(3, 0), Value::U64((1 << 40) + 7));
    assert_eq!(block(4, 0), Value::Float(0.25));
    assert_eq!(insts_of(&r, 5), vec![0, 1, 2]);
    assert_eq!(block(5, 2), Value::Double(4.5));
    assert_eq!(block(6, 0), Value::Aggregate(vec![1, 2, 3, 4, 5]));
    assert_eq!(r.vsets[7].values, VSetValues::Error(PmError::AGAIN.code()));
    assert_eq!(r.vsets[8].values, VSetValues::Error(PmError::PMID.code()));
    assert_eq!(r.vsets[9].values, r.vsets[1].values);
    p.finish();
}

#[test]
fn profiles_are_kept_per_client_and_dropped_on_notconn() {
    let mut p = FakePmcd::start();
    let only_beta = ProfilePdu::from_profile(0, &Profile::only(indom(), [1]));
    p.send(1, &Pdu::Profile(only_beta));
    let dbl = [pmid(0, 5)];
    assert_eq!(insts_of(&result(p.call(1, &fetch(&dbl))), 0), vec![1]);
    assert_eq!(insts_of(&result(p.call(2, &fetch(&dbl))), 0), vec![0, 1, 2]);
    // Instance labels honour the asking client's profile.
    let req = Pdu::LabelReq(IdentReq {
        ident: indom().raw(),
        kind: 32,
    });
    let sets = label_sets(p.call(1, &req));
    assert_eq!(sets, vec![(1, String::new(), vec![])]);
    assert_eq!(label_sets(p.call(2, &req)).len(), 3);
    // Client 1 leaves: its profile goes with it.
    p.send(1, &Pdu::error(PmError::NOTCONN.code()));
    assert_eq!(insts_of(&result(p.call(1, &fetch(&dbl))), 0), vec![0, 1, 2]);
    p.finish();
}

#[test]
fn descriptors_instances_and_help() {
    let mut p = FakePmcd::start();
    let Pdu::Desc(d) = p.call(0, &Pdu::DescReq(pmid(0, 3))) else {
        panic!("no DESC")
    };
    assert_eq!(
        d.to_desc().unwrap(),
        TestAgent::new().desc(pmid(0, 3)).unwrap()
    );
    assert_eq!(
        error_code(p.call(0, &Pdu::DescReq(pmid(7, 7)))),
        PmError::PMID.code()
    );

    let req = |inst: u32, name: &str| {
        Pdu::InstanceReq(InstanceReq {
            indom: indom(),
            inst,
            name: name.as_bytes().to_vec(),
        })
    };
    let Pdu::Instance(all) = p.call(0, &req(PM_IN_NULL, "")) else {
        panic!("no INSTANCE")
    };
    assert_eq!(
        all.instances,
        vec![
            (0, b"alpha".to_vec()),
            (1, b"beta".to_vec()),
            (2, b"gamma delta".to_vec())
        ]
    );
    let Pdu::Instance(one) = p.call(0, &req(2, "")) else {
        panic!()
    };
    assert_eq!(one.instances, vec![(PM_IN_NULL, b"gamma delta".to_vec())]);
    for (name, id) in [("beta", 1), ("gamma", 2), ("gamma delta", 2)] {
        let Pdu::Instance(found) = p.call(0, &req(PM_IN_NULL, name)) else {
            panic!()
        };
        assert_eq!(found.instances, vec![(id, Vec::new())], "{name}");
    }
    for r in [req(PM_IN_NULL, "gamma d"), req(7, "")] {
        assert_eq!(error_code(p.call(0, &r)), PmError::INST.code());
    }
    let other = Pdu::InstanceReq(InstanceReq {
        indom: InDom::from_parts(DOMAIN, 5),
        inst: PM_IN_NULL,
        name: vec![],
    });
    assert_eq!(error_code(p.call(0, &other)), PmError::INDOM.code());

    let text = |ident: u32, kind: i32| Pdu::TextReq(IdentReq { ident, kind });
    let Pdu::Text(t) = p.call(0, &text(pmid(0, 1).raw(), 6)) else {
        panic!()
    };
    assert_eq!(
        (t.ident, t.text.as_slice()),
        (pmid(0, 1).raw(), &b"A negative 32-bit value."[..])
    );
    let Pdu::Text(t) = p.call(0, &text(pmid(0, 1).raw(), 5)) else {
        panic!()
    };
    assert_eq!(t.text, b"always -42");
    let Pdu::Text(t) = p.call(0, &text(indom().raw(), 9)) else {
        panic!()
    };
    assert_eq!(t.text, b"greek letters");
    assert_eq!(
        error_code(p.call(0, &text(pmid(8, 8).raw(), 6))),
        PmError::TEXT.code()
    );
    p.finish();
}

#[test]
fn labels_at_every_level() {
    let mut p = FakePmcd::start();
    let req = |ident: u32, kind: i32| Pdu::LabelReq(IdentReq { ident, kind });
    assert_eq!(
        label_sets(p.call(0, &req(DOMAIN, 2))),
        vec![(
            PM_IN_NULL,
            r#"{"agent":"pdutest","role":"testing"}"#.into(),
            vec![2, 2]
        )]
    );
    assert_eq!(
        label_sets(p.call(0, &req(indom().raw(), 4))),
        vec![(PM_IN_NULL, r#"{"kind":"greek"}"#.into(), vec![4])]
    );
    // Cluster requests carry a full PMID; the item is ignored, the ident echoed.
    let reply = p.call(0, &req(pmid(0, 5).raw(), 8));
    let Pdu::Label(l) = &reply else { panic!() };
    assert_eq!((l.ident, l.kind), (pmid(0, 5).raw(), 8));
    assert_eq!(
        label_sets(reply),
        vec![(PM_IN_NULL, r#"{"cluster":"zero"}"#.into(), vec![8])]
    );
    assert_eq!(
        label_sets(p.call(0, &req(pmid(0, 5).raw(), 16))),
        vec![(
            PM_IN_NULL,
            r#"{"note":"optional label","units_hint":"none"}"#.into(),
            vec![0x90, 0x10]
        )]
    );
    assert_eq!(label_sets(p.call(0, &req(pmid(0, 1).raw(), 16))), vec![]);
    assert_eq!(
        label_sets(p.call(0, &req(indom().raw(), 32))),
        vec![
            (0, r#"{"letter":"a"}"#.into(), vec![32]),
            (1, String::new(), vec![]),
            (2, r#"{"letter":"g","spaced":true}"#.into(), vec![32, 32]),
        ]
    );
    p.finish();
}

#[test]
fn dynamic_namespace_requests() {
    let mut p = FakePmcd::start();
    let lookup = |n: &str| {
        Pdu::PmnsNames(PmnsNamesPdu {
            names: vec![n.as_bytes().to_vec()],
            status: None,
        })
    };
    assert_eq!(
        p.call(0, &lookup("pdutest.control.value")),
        Pdu::PmnsIds(PmnsIdsPdu {
            status: 0,
            pmids: vec![pmid(1, 0)]
        })
    );
    for bad in ["pdutest.nosuch", "pdutest.control", "other.x"] {
        assert_eq!(
            error_code(p.call(0, &lookup(bad))),
            PmError::NAME.code(),
            "{bad}"
        );
    }
    let ids = |p: Pmid| {
        Pdu::PmnsIds(PmnsIdsPdu {
            status: 0,
            pmids: vec![p],
        })
    };
    assert_eq!(
        names(p.call(0, &ids(pmid(0, 7)))),
        vec![(None, "pdutest.aggregate".into())]
    );
    assert_eq!(
        error_code(p.call(0, &ids(pmid(5, 5)))),
        PmError::PMID.code()
    );

    let child = |sub: i32, n: &str| {
        Pdu::PmnsChild(PmnsNamePdu {
            subtype: sub,
            name: n.as_bytes().to_vec(),
        })
    };
    assert_eq!(
        names(p.call(0, &child(1, "pdutest.control"))),
        // Children come in the order the agent defined them, as in PCP.
        vec![(Some(0), "value".into()), (Some(0), "add".into())]
    );
    let top = names(p.call(0, &child(1, "pdutest")));
    assert!(top.contains(&(Some(1), "control".into())), "{top:?}");
    assert!(top.contains(&(Some(0), "counter".into())), "{top:?}");
    assert!(names(p.call(0, &child(0, "pdutest")))
        .iter()
        .all(|n| n.0.is_none()));
    assert_eq!(
        error_code(p.call(0, &child(0, "nope"))),
        PmError::NAME.code()
    );

    let trav = |n: &str| {
        Pdu::PmnsTraverse(PmnsNamePdu {
            subtype: 0,
            name: n.as_bytes().to_vec(),
        })
    };
    let all = names(p.call(0, &trav("pdutest")));
    assert_eq!(all.len(), TestAgent::new().namespace().len());
    assert_eq!(
        names(p.call(0, &trav("pdutest.i32"))),
        vec![(None, "pdutest.i32".into())]
    );
    assert_eq!(
        error_code(p.call(0, &trav("pdutest.zz"))),
        PmError::NAME.code()
    );
    p.finish();
}

fn store(pmid: Pmid, v: &Value) -> Pdu {
    let values = match insitu_from_value(v) {
        Some(w) => VSetValues::Insitu(vec![(PM_IN_NULL, w)]),
        None => VSetValues::Blocks {
            valfmt: PM_VAL_DPTR,
            values: vec![(PM_IN_NULL, block_from_value(v))],
        },
    };
    Pdu::Result(ResultPdu {
        // pmcd sends garbage here (observed 0xb640147f).
        tv_sec: 0x0b64_147f,
        tv_usec: 0,
        vsets: vec![VSet { pmid, values }],
    })
}

#[test]
fn store_then_new_names_raise_the_state_flags() {
    let mut p = FakePmcd::start();
    // First fetch: nothing has changed.
    assert_eq!(result(p.call(0, &fetch(&[pmid(1, 0)]))).tv_sec, 0);
    assert_eq!(
        error_code(p.call(0, &store(pmid(1, 0), &Value::U32(42)))),
        0
    );
    let r = result(p.call(0, &fetch(&[pmid(1, 0)])));
    assert_eq!(
        r.vsets[0].values,
        VSetValues::Insitu(vec![(PM_IN_NULL, 42)])
    );
    assert_eq!(
        error_code(p.call(0, &store(pmid(0, 1), &Value::I32(1)))),
        PmError::PERMISSION.code()
    );
    assert_eq!(
        error_code(p.call(0, &store(pmid(9, 1), &Value::I32(1)))),
        PmError::PMID.code()
    );
    // Storing a name adds a metric: it resolves at once, and the next
    // fetch carries names-changed (16) and labels-changed (8).
    let add = store(pmid(1, 1), &Value::String("fresh".into()));
    assert_eq!(error_code(p.call(0, &add)), 0);
    let lookup = Pdu::PmnsNames(PmnsNamesPdu {
        names: vec![b"pdutest.dynamic.fresh".to_vec()],
        status: None,
    });
    let Pdu::PmnsIds(ids) = p.call(0, &lookup) else {
        panic!()
    };
    assert_eq!(ids.pmids, vec![pmid(3, 0)]);
    let r = result(p.call(0, &fetch(&[pmid(3, 0)])));
    assert_eq!(r.tv_sec, PMCD_NAMES_CHANGE | PMCD_LABEL_CHANGE);
    assert_eq!(r.vsets[0].values, VSetValues::Insitu(vec![(PM_IN_NULL, 1)]));
    assert_eq!(result(p.call(0, &fetch(&[pmid(3, 0)]))).tv_sec, 0);
    p.finish();
}

#[test]
fn credentials_from_attr_reach_the_agent() {
    let opts = DaemonOptions {
        credentials: true,
        ..Default::default()
    };
    let (mut p, creds) = FakePmcd::start_with(opts, || Ok(Box::new(TestAgent::new())));
    assert_eq!(
        creds.version_flags(),
        Some((2, PDU_FLAG_AUTH | PDU_FLAG_CONTAINER))
    );
    let uid = [pmid(2, 0)];
    assert_eq!(
        result(p.call(3, &fetch(&uid))).vsets[0].values,
        VSetValues::Error(PmError::AGAIN.code())
    );
    p.send(
        3,
        &Pdu::Attr(AttrPdu {
            attr: attr::USERID,
            value: b"1234\0".to_vec(),
        }),
    );
    assert_eq!(
        result(p.call(3, &fetch(&uid))).vsets[0].values,
        VSetValues::Insitu(vec![(PM_IN_NULL, 1234)])
    );
    // Another client has no credentials.
    assert!(matches!(
        result(p.call(4, &fetch(&uid))).vsets[0].values,
        VSetValues::Error(_)
    ));
    p.finish();
}

#[test]
fn notready_start_sends_creds_first_then_ready() {
    // A start-up longer than the agent may take before the handshake:
    // CREDS goes first, READY once the agent is built.
    let opts = DaemonOptions {
        notready: true,
        build_before_handshake: Duration::from_millis(100),
        ..Default::default()
    };
    let t0 = Instant::now();
    let (mut p, _) = FakePmcd::start_with(opts, || {
        std::thread::sleep(Duration::from_millis(400));
        Ok(Box::new(TestAgent::new()))
    });
    assert!(
        t0.elapsed() < Duration::from_millis(350),
        "CREDS waited for the whole start-up"
    );
    let (_, ready) = p.recv_raw();
    assert_eq!(ready, Pdu::error(PmError::PMDAREADY.code()));
    assert!(t0.elapsed() >= Duration::from_millis(400));
    assert!(matches!(p.call(0, &Pdu::DescReq(pmid(0, 0))), Pdu::Desc(_)));
    p.finish();
}

#[test]
fn a_quick_start_is_ready_with_the_handshake() {
    // Built within build_before_handshake: CREDS waits for the agent and
    // READY follows it at once, so pmcd never has it registered not ready
    // (pmlogger, revalidating its metrics then, would get PM_ERR_AGAIN
    // and exit).
    let opts = DaemonOptions {
        notready: true,
        build_before_handshake: Duration::from_secs(5),
        ..Default::default()
    };
    let t0 = Instant::now();
    let (mut p, _) = FakePmcd::start_with(opts, || {
        std::thread::sleep(Duration::from_millis(200));
        Ok(Box::new(TestAgent::new()))
    });
    let creds_at = t0.elapsed();
    assert!(creds_at >= Duration::from_millis(200), "{creds_at:?}");
    let (_, ready) = p.recv_raw();
    assert_eq!(ready, Pdu::error(PmError::PMDAREADY.code()));
    assert!(
        t0.elapsed() - creds_at < Duration::from_millis(100),
        "READY came {:?} after CREDS",
        t0.elapsed() - creds_at
    );
    assert!(matches!(p.call(0, &Pdu::DescReq(pmid(0, 0))), Pdu::Desc(_)));
    p.finish();
}

#[test]
fn a_panicking_start_up_is_an_error() {
    let (p, _) = FakePmcd::start_with(DaemonOptions::default(), || panic!("broken agent"));
    let r = p.daemon.unwrap().join().unwrap();
    assert!(matches!(r, Err(DaemonError::Agent(m)) if m.contains("panicked")));
}

#[test]
fn failed_start_up_is_an_error_not_a_hang() {
    let (p, _) = FakePmcd::start_with(DaemonOptions::default(), || Err("no config".into()));
    let r = p.daemon.unwrap().join().unwrap();
    assert!(matches!(r, Err(DaemonError::Agent(m)) if m == "no config"));
}

#[test]
fn malformed_and_unknown_pdus_are_answered_or_skipped() {
    let mut p = FakePmcd::start();
    // A FETCH whose count disagrees with its length: error reply.
    p.send_raw(&[
        0, 0, 0, 28, 0, 0, 0x70, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
    ]);
    let (_, r) = p.recv_raw();
    assert_eq!(r, Pdu::error(PmError::IPC.code()));
    // Unknown type and a malformed PROFILE: skipped, no reply.
    p.send_raw(&[0, 0, 0, 16, 0, 0, 0x71, 0x99, 0, 0, 0, 0, 1, 2, 3, 4]);
    p.send_raw(&[0, 0, 0, 16, 0, 0, 0x70, 2, 0, 0, 0, 0, 1, 2, 3, 4]);
    p.send_raw(&[0, 0, 0, 16, 0, 0, 0x70, 0x0a, 0, 0, 0, 0, 1, 2, 3, 4]);
    // The next request is still answered in turn.
    assert!(matches!(p.call(0, &Pdu::DescReq(pmid(0, 0))), Pdu::Desc(_)));
    // Random garbage bodies behind valid headers never kill the loop.
    let mut seed = 0x1234_5678u32;
    for _ in 0..300 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let ty = 0x7000 + (seed >> 8) % 0x18;
        let n = (seed >> 16) as usize % 40;
        let mut b = ((12 + n) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(&ty.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 5]);
        b.extend((0..n).map(|k| (seed >> (k % 24)) as u8));
        p.send_raw(&b);
        p.send(0, &Pdu::DescReq(pmid(0, 1)));
        // Drain until the DESC for our probe arrives.
        loop {
            let (_, r) = p.recv_raw();
            if let Pdu::Desc(d) = r {
                if d.pmid == pmid(0, 1) {
                    break;
                }
            }
        }
    }
    p.finish();
}

#[test]
fn absurd_length_stops_the_daemon_with_an_error() {
    let (mut p, _) =
        FakePmcd::start_with(DaemonOptions::default(), || Ok(Box::new(TestAgent::new())));
    p.send_raw(&[0x7f, 0, 0, 0, 0, 0, 0x70, 3, 0, 0, 0, 0]);
    let r = p.daemon.take().unwrap().join().unwrap();
    assert!(matches!(r, Err(DaemonError::Read(_))), "{r:?}");
}

#[test]
fn run_daemon_serves_a_prebuilt_agent() {
    let (agent_in, mut to_agent) = UnixStream::pair().unwrap();
    let (mut from_agent, agent_out) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        let mut a = TestAgent::new();
        run_daemon(&mut a, agent_in, agent_out, &DaemonOptions::default())
    });
    let mut buf = Vec::new();
    read_pdu(&mut from_agent, &mut buf, 1 << 20)
        .unwrap()
        .unwrap();
    assert!(matches!(decode(&buf).unwrap().1, Pdu::Creds(_)));
    drop(to_agent.write_all(&[]));
    drop(to_agent); // pmcd dies during the handshake
    assert!(t.join().unwrap().is_ok());
}

// --- Replay of the reference raw PMDA's captured conversation ----------

/// The metrics of the reference raw PMDA (rawpmda.py), domain 400.
struct RawTest {
    table: Metrics<()>,
    fetches: u32,
}

impl RawTest {
    fn new() -> RawTest {
        let d = 400;
        let mut t = Metrics::new(d);
        let mut add = |name: &str, c, i, ty, indom: InDom, sem, units, one: &str, help: &str| {
            let desc = Desc::new(Pmid::from_parts(d, c, i), ty, indom, sem, units);
            let row = t.add(name.to_string(), Spec::from(&desc), ()).unwrap();
            row.oneline = one.to_string().into();
            row.help = help.to_string().into();
        };
        let colour = InDom::from_parts(d, 0);
        use Semantics::*;
        add(
            "rawtest.u32",
            0,
            0,
            Type::U32,
            InDom::NULL,
            Counter,
            Units::COUNT,
            "fetch counter",
            "Number of fetches seen.",
        );
        add(
            "rawtest.i32neg",
            0,
            1,
            Type::I32,
            InDom::NULL,
            Instant,
            Units::NONE,
            "negative 32-bit",
            "Always -42.",
        );
        add(
            "rawtest.u64",
            0,
            2,
            Type::U64,
            InDom::NULL,
            Instant,
            Units::KBYTES,
            "big number",
            "A 64-bit value in KiB.",
        );
        add(
            "rawtest.dbl",
            0,
            3,
            Type::Double,
            colour,
            Instant,
            Units::NONE,
            "per-instance double",
            "Doubles per instance.",
        );
        add(
            "rawtest.str",
            0,
            4,
            Type::String,
            InDom::NULL,
            Discrete,
            Units::NONE,
            "a string",
            "A string value.",
        );
        add(
            "rawtest.sub.flt",
            1,
            0,
            Type::Float,
            InDom::NULL,
            Instant,
            Units::MILLISEC,
            "a float (msec)",
            "Float value in milliseconds.",
        );
        add(
            "rawtest.sub.agg",
            1,
            1,
            Type::Aggregate,
            InDom::NULL,
            Discrete,
            Units::NONE,
            "an aggregate",
            "Opaque bytes.",
        );
        t.set_indom_text(
            colour.serial(),
            "rawtest instances",
            "Three test instances.",
        );
        RawTest {
            table: t,
            fetches: 0,
        }
    }
}

impl Pmda for RawTest {
    fn name(&self) -> &str {
        "rawtest"
    }
    fn domain(&self) -> u32 {
        400
    }
    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        match (pmid.cluster(), pmid.item()) {
            // rawfixed.one: named in pmcd's static PMNS, not in our tree.
            (5, 0) => Ok(Desc::new(
                pmid,
                Type::I64,
                InDom::NULL,
                Semantics::Instant,
                Units::NONE,
            )),
            _ => self.table.desc(pmid),
        }
    }
    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom != InDom::from_parts(400, 0) {
            return Err(PmError::INDOM);
        }
        Ok(vec![
            Instance::new(0, "alpha"),
            Instance::new(1, "beta"),
            Instance::new(2, "gamma delta"),
        ])
    }
    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        match target {
            TextTarget::Metric(p) if p == Pmid::from_parts(400, 5, 0) => Ok(match kind {
                TextKind::OneLine => "static pmns metric",
                TextKind::Help => "Listed statically in pmcd PMNS.",
            }
            .into()),
            _ => self.table.text(target, kind),
        }
    }
    fn labels(&self, target: LabelTarget, _client: &ClientContext) -> Result<LabelSet, PmError> {
        Ok(match target {
            LabelTarget::Domain => LabelSet::new()
                .with("agent", "rawtest")
                .with("lang", "python"),
            LabelTarget::InDom(i) if i == InDom::from_parts(400, 0) => {
                LabelSet::new().with("colour_kind", "greek")
            }
            LabelTarget::Cluster(c) => LabelSet::new().with("cluster", c),
            LabelTarget::Item(p) if self.desc(p).is_ok() => LabelSet::new()
                .with("units_hint", "none")
                .with("item", p.item()),
            _ => LabelSet::new(),
        })
    }
    fn instance_labels(
        &mut self,
        _: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        Ok(["a", "b", "g"]
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, LabelSet::new().with("letter", *l)))
            .collect())
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        self.fetches += 1;
        let one = |v| Ok(vec![(PM_IN_NULL, v)]);
        req.pmids
            .iter()
            .map(|p| match (p.cluster(), p.item()) {
                (0, 0) => one(Value::U32(self.fetches)),
                (0, 1) => one(Value::I32(-42)),
                (0, 2) => one(Value::U64((1 << 40) + 7)),
                (0, 3) => Ok((0..3)
                    .map(|i| (i, Value::Double(1.5 * (i + 1) as f64)))
                    .collect()),
                (0, 4) => one(Value::String("hello pmcd".into())),
                (1, 0) => one(Value::Float(0.25)),
                (1, 1) => one(Value::Aggregate(vec![1, 2, 3, 4, 5])),
                (5, 0) => one(Value::I64(-(1 << 33))),
                _ => Err(PmError::PMID),
            })
            .collect()
    }
    fn labels_changed(&mut self) -> bool {
        // rawpmda.py raises the labels-changed flag on its third fetch.
        self.fetches == 2
    }
}

/// A reply in a form where equivalent answers compare equal: name lists
/// as sets, label sets as parsed JSON, and an instance-by-id reply without
/// its (unused) id.
fn canonical(req: &Pdu, reply: &Pdu) -> String {
    match reply {
        Pdu::PmnsNames(n) => {
            let mut v: Vec<(Option<i32>, &[u8])> = n
                .names
                .iter()
                .enumerate()
                .map(|(k, s)| (n.status.as_ref().map(|st| st[k]), s.as_slice()))
                .collect();
            v.sort();
            format!("NAMES {v:?}")
        }
        Pdu::Label(l) => {
            let sets: Vec<(u32, BTreeMap<String, serde_json::Value>, Vec<u8>)> = l
                .sets
                .iter()
                .map(|s| {
                    let map = if s.json.is_empty() {
                        BTreeMap::new()
                    } else {
                        serde_json::from_slice(&s.json).unwrap()
                    };
                    // Each index entry's name and value must be right.
                    for (n, v) in s.pairs() {
                        let n = std::str::from_utf8(n).unwrap();
                        let v: serde_json::Value = serde_json::from_slice(v).unwrap();
                        assert_eq!(map[n], v);
                    }
                    let mut flags: Vec<u8> = s.labels.iter().map(|x| x.flags).collect();
                    flags.sort();
                    (s.inst, map, flags)
                })
                .collect();
            format!("LABEL {:x} {} {sets:?}", l.ident, l.kind)
        }
        Pdu::Instance(i) => match req {
            Pdu::InstanceReq(r) if r.inst != PM_IN_NULL => {
                format!(
                    "INSTANCE {:?}",
                    i.instances.iter().map(|x| &x.1).collect::<Vec<_>>()
                )
            }
            _ => format!("{reply:?}"),
        },
        _ => format!("{reply:?}"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn replaying_the_captured_conversation_gives_the_captured_answers() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pdu/rawtest.txt"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let pdus: Vec<(bool, Vec<u8>)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0] == "in", unhex(f[2]))
        })
        .collect();
    let opts = DaemonOptions {
        notready: true,
        ..Default::default()
    };
    let (mut p, _) = FakePmcd::start_with(opts, || Ok(Box::new(RawTest::new())));
    let (_, ready) = p.recv_raw();
    assert_eq!(ready, Pdu::error(PmError::PMDAREADY.code()));
    // Skip the handshake and READY (checked above); then request/reply pairs.
    let mut k = 3;
    let mut compared = 0;
    while k < pdus.len() {
        let (incoming, bytes) = &pdus[k];
        assert!(incoming, "capture out of step at #{k}");
        let (h, req) = decode(bytes).unwrap();
        p.send_raw(bytes);
        let answered = matches!(pdus.get(k + 1), Some((false, _)));
        if answered {
            let (_, want) = decode(&pdus[k + 1].1).unwrap();
            let (rh, got) = p.recv_raw();
            assert_eq!(rh.from, 0);
            assert_eq!(
                canonical(&req, &got),
                canonical(&req, &want),
                "reply #{} to {} differs",
                k + 1,
                type_name(h.ty)
            );
            compared += 1;
            k += 2;
        } else {
            k += 1;
        }
    }
    assert!(compared > 80, "only {compared} replies compared");
    p.finish();
}
