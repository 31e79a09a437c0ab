//! Captures of PCP 6.0.3's own clients (pminfo, pmval, pmprobe, pmstore,
//! the Python PMAPI, pmrep, pmlogger, pmproxy) talking to a real pmcd 6.0.3
//! that hosted our simple and linux agents (tests/fixtures/pmcd-clients/,
//! made by scripts/capture-pmcd-clients.sh), decoded and replayed against
//! `pcp-agent pmcd` serving the same agents: every PDU of the captures
//! decodes and re-encodes byte for byte, and each of our replies matches
//! pmcd's wherever the data is the same (descriptors, names, help, labels,
//! instance lists, errors, the shape of every fetch; values where they do
//! not move; context labels by name, as they carry the host's identity).
//! Needs no PCP installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use pcp_agent::agents::AgentOptions;
use pcp_core::pdu::client::challenge_features;
use pcp_core::pdu::frame::read_pdu;
use pcp_core::pdu::*;
use pcp_core::server::{Server, ServerHandle, ServerOptions};
use pcp_core::Pmid;

/// One direction and the bytes of one PDU.
type Line = (bool, Vec<u8>);

/// The connections of a capture, each its PDUs in order (`true`: client).
fn load(name: &str) -> Vec<Vec<Line>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pmcd-clients")
        .join(format!("{name}.pdus"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut conns: Vec<Vec<Line>> = Vec::new();
    for line in text.lines() {
        if line == "# connection" {
            conns.push(Vec::new());
            continue;
        }
        let Some((dir, hex)) = line.split_at_checked(2) else {
            continue;
        };
        let client = match dir {
            "> " => true,
            "< " => false,
            _ => continue,
        };
        let hex: String = hex.split_whitespace().collect();
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("fixture hex"))
            .collect();
        conns
            .last_mut()
            .expect("a connection")
            .push((client, bytes));
    }
    conns
}

const CAPTURES: &[&str] = &[
    "pminfo-simple",
    "pminfo-errors",
    "pminfo-pmcd",
    "pminfo-container",
    "pminfo-unix",
    "pmval",
    "pmprobe",
    "pmprobe-instances",
    "pmstore",
    "pmstore-readonly",
    "python-pmapi",
    "pmrep-vmstat",
    "pmlogger",
    "pmproxy",
];

#[test]
fn every_captured_pdu_decodes_and_reencodes_byte_for_byte() {
    let mut n = 0;
    for name in CAPTURES {
        for conn in load(name) {
            for (client, bytes) in conn {
                let (h, pdu) =
                    decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}: {}", hexdump(&bytes)));
                let mut again = Vec::new();
                Encoder::default().encode(&pdu, h.from, &mut again);
                assert_eq!(
                    again,
                    bytes,
                    "{name}: {} {} re-encodes differently",
                    if client { "client" } else { "pmcd" },
                    type_name(h.ty)
                );
                n += 1;
            }
        }
    }
    assert!(n > 700, "only {n} PDUs");
}

fn hexdump(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Our server with the agents pmcd hosted (a fresh state directory: ids
/// come out in the same order as in the capture's).
fn ours(dir: &Path) -> ServerHandle {
    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["linux".into(), "simple".into()];
    opts.state_dir = Some(dir.join("state"));
    let host = opts.build_host().expect("linux and simple agents");
    let server = Server::bind(
        host,
        ServerOptions {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            socket: Some(dir.join("pmcd.socket")),
            access: pcp_core::server::Access::default().with_store_allowed(),
            ..ServerOptions::default()
        },
    )
    .expect("binding");
    server.spawn().expect("serving")
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Values that never move, by PMID: simple.version.
fn stable(pmid: Pmid) -> bool {
    pmid == Pmid::from_parts(253, 2, 0)
}

fn compare_vsets(what: &str, theirs: &[VSet], ours: &[VSet]) {
    let pmids = |v: &[VSet]| v.iter().map(|s| s.pmid).collect::<Vec<_>>();
    assert_eq!(pmids(theirs), pmids(ours), "{what}: PMIDs");
    for (t, o) in theirs.iter().zip(ours) {
        let what = format!("{what}: {}", t.pmid);
        match (&t.values, &o.values) {
            (VSetValues::Error(a), VSetValues::Error(b)) => assert_eq!(a, b, "{what}"),
            (VSetValues::Insitu(a), VSetValues::Insitu(b)) => {
                same_instances(&what, t.pmid, a.iter().map(|x| x.0), b.iter().map(|x| x.0));
                if stable(t.pmid) {
                    assert_eq!(a, b, "{what}");
                }
            }
            (VSetValues::Blocks { values: a, .. }, VSetValues::Blocks { values: b, .. }) => {
                same_instances(&what, t.pmid, a.iter().map(|x| x.0), b.iter().map(|x| x.0));
                for (x, y) in a.iter().zip(b) {
                    assert_eq!(x.1.vtype, y.1.vtype, "{what}: value type");
                }
                if stable(t.pmid) {
                    assert_eq!(a, b, "{what}");
                }
            }
            (a, b) => panic!("{what}: pmcd sent {a:?}, we sent {b:?}"),
        }
    }
}

/// Instance ids must agree except where they are this machine's (the
/// linux agent's devices) or this server's (pmcd.client.*).
fn same_instances(
    what: &str,
    pmid: Pmid,
    theirs: impl Iterator<Item = u32>,
    ours: impl Iterator<Item = u32>,
) {
    let (mut t, mut o): (Vec<u32>, Vec<u32>) = (theirs.collect(), ours.collect());
    if pmid.domain() == 60 || (pmid.domain() == 2 && pmid.cluster() == 6) {
        assert_eq!(t.is_empty(), o.is_empty(), "{what}: values or none");
        return;
    }
    // pmcd lists its agents in pmcd.conf order, we in load order.
    t.sort_unstable();
    o.sort_unstable();
    assert_eq!(t, o, "{what}: instances");
}

fn compare(what: &str, theirs: &Pdu, ours: &Pdu) {
    match (theirs, ours) {
        (Pdu::Error(t), Pdu::Error(o)) if t.extra.is_some() => {
            // The greeting: pmcd built with SASL also offers AUTH.
            assert_eq!(t.code, o.code, "{what}");
            let (tv, tf) = challenge_features(t.extra.unwrap_or(0) as u32);
            let (ov, of) = challenge_features(o.extra.unwrap_or(0) as u32);
            assert_eq!((tv, tf & !PDU_FLAG_AUTH), (ov, of), "{what}: challenge");
        }
        (Pdu::Result(t), Pdu::Result(o)) => compare_vsets(what, &t.vsets, &o.vsets),
        (Pdu::HighResResult(t), Pdu::HighResResult(o)) => compare_vsets(what, &t.vsets, &o.vsets),
        (Pdu::Label(t), Pdu::Label(o)) if t.kind == 1 => {
            // Context labels: this host's name, domain and machine id.
            let names = |l: &LabelPdu| {
                l.sets
                    .iter()
                    .map(|s| {
                        s.pairs()
                            .into_iter()
                            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!((t.ident, t.kind), (o.ident, o.kind), "{what}");
            assert_eq!(names(t), names(o), "{what}: context label names");
        }
        (Pdu::Instance(t), Pdu::Instance(o)) if t.indom == pcp_core::InDom::from_parts(2, 3) => {
            // pmcd's agents, in its configuration's order (ours: load order).
            let sorted = |p: &InstancePdu| {
                let mut v = p.instances.clone();
                v.sort();
                v
            };
            assert_eq!(sorted(t), sorted(o), "{what}");
        }
        (Pdu::Instance(t), Pdu::Instance(o)) if t.indom.domain() == 60 => {
            assert_eq!(t.indom, o.indom, "{what}");
            assert_eq!(t.instances.is_empty(), o.instances.is_empty(), "{what}");
        }
        (t, o) => assert_eq!(t, o, "{what}"),
    }
}

fn replay(name: &str, server: &ServerHandle) -> usize {
    let mut compared = 0;
    for (k, conn) in load(name).into_iter().enumerate() {
        let mut s: Box<dyn Stream> = if name.contains("unix") {
            let s = UnixStream::connect(server.socket().unwrap()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            Box::new(s)
        } else {
            let s = TcpStream::connect(server.tcp_addrs()[0]).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.set_nodelay(true).unwrap();
            Box::new(s)
        };
        let mut buf = Vec::new();
        for (i, (client, bytes)) in conn.iter().enumerate() {
            let what = format!("{name} connection {k} PDU {i}");
            if *client {
                s.write_all(bytes).unwrap();
                continue;
            }
            let (_, theirs) = decode(bytes).unwrap();
            match read_pdu(&mut s, &mut buf, 64 << 20) {
                Ok(Some(_)) => {}
                other => panic!("{what}: no reply from us ({other:?}); pmcd sent {theirs:?}"),
            }
            let (_, ours) = decode(&buf).unwrap_or_else(|e| panic!("{what}: our reply: {e}"));
            compare(&what, &theirs, &ours);
            compared += 1;
        }
    }
    compared
}

#[test]
fn our_replies_match_pmcds_for_every_captured_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = ours(dir.path());
    let mut total = 0;
    for name in CAPTURES {
        let n = replay(name, &server);
        assert!(n > 3, "{name}: {n} replies compared");
        total += n;
    }
    assert!(total > 300, "{total} replies compared");
}
