//! One client's session with the pmcd server, PDU by PDU, as pmcd 6.0.3
//! answers a libpcp client (the behaviours were taken from captures of
//! real clients talking to a real pmcd; see tests/fixtures/pmcd-clients/
//! at the top of the workspace for the replay of those captures).

mod server_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pcp_core::pdu::client::challenge_features;
use pcp_core::pdu::*;
use pcp_core::server::{Ops, Outcome, ServerState, Session, SessionLimits, FEATURES_OFFERED};
use pcp_core::*;
use server_support::*;

const FETCH_ONLY: Ops = Ops {
    fetch: true,
    store: false,
};

fn session_with(client: ClientContext, ops: Ops) -> (Session, Arc<std::sync::atomic::AtomicBool>) {
    let (mut host, grow) = demo_host();
    let state = Arc::new(ServerState::new("test", 2, false));
    host.load(Box::new(pcp_core::server::pmcd_agent(Arc::clone(&state))))
        .unwrap();
    state.set_agents(host.agents());
    let slot = state.add_client();
    let client = ClientContext { slot, ..client };
    let s = Session::new(Arc::new(host), state, client, ops, SessionLimits::default());
    (s, grow)
}

/// A session past the handshake, with a profile for context 0.
fn ready(ops: Ops) -> Session {
    let (mut s, _) = session_with(ClientContext::anonymous(), ops);
    s.greeting();
    assert_eq!(s.handle(&creds(0)), Outcome::Quiet);
    assert_eq!(s.handle(&profile()), Outcome::Quiet);
    s
}

fn ask(s: &mut Session, bytes: &[u8]) -> Pdu {
    assert_eq!(s.handle(bytes), Outcome::Reply);
    let mut v = all(s.reply());
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

fn error_of(p: &Pdu) -> i32 {
    match p {
        Pdu::Error(e) => e.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn greeting_offers_pmcds_features_without_auth() {
    let (mut s, _) = session_with(ClientContext::anonymous(), FETCH_ONLY);
    let g = s.greeting().to_vec();
    assert_eq!(g.len(), 20);
    let Pdu::Error(e) = decode(&g).unwrap().1 else {
        panic!()
    };
    assert_eq!(e.code, 0);
    let (version, features) = challenge_features(e.extra.unwrap() as u32);
    assert_eq!(version, 2);
    assert_eq!(features, FEATURES_OFFERED);
    // pmcd 6.0.3 offers DESCS|HIGHRES|LABELS|CONTAINER (and AUTH with SASL).
    assert_eq!(features, 0x0e40);
}

#[test]
fn highres_and_plain_fetches_answer_in_request_order() {
    let mut s = ready(FETCH_ONLY);
    let pmids = [
        pmid(0, 1),
        pmid(0, 0),
        pmid(1, 1),
        Pmid::from_parts(77, 0, 0),
    ];
    let Pdu::HighResResult(r) = ask(&mut s, &fetch(&pmids, true)) else {
        panic!("HIGHRES_FETCH answers HIGHRES_RESULT")
    };
    assert!(r.sec > 1_700_000_000 && (0..1_000_000_000).contains(&r.nsec));
    let got: Vec<Pmid> = r.vsets.iter().map(|v| v.pmid).collect();
    assert_eq!(got, pmids);
    assert_eq!(
        r.vsets[0].values,
        VSetValues::Insitu(vec![(0, -1i32 as u32), (1, 2), (2, 3)])
    );
    assert_eq!(r.vsets[1].values, VSetValues::Insitu(vec![(PM_IN_NULL, 5)]));
    let VSetValues::Blocks { values, .. } = &r.vsets[2].values else {
        panic!("64-bit values travel in blocks")
    };
    assert_eq!(value_from_block(&values[0].1), Ok(Value::U64(1 << 40)));
    assert_eq!(
        r.vsets[3].values,
        VSetValues::Error(PmError::NOAGENT.code())
    );
    let Pdu::Result(r) = ask(&mut s, &fetch(&pmids[..1], false)) else {
        panic!("FETCH answers RESULT")
    };
    assert!(r.tv_sec > 1_700_000_000 && (0..1_000_000).contains(&r.tv_usec));
}

#[test]
fn a_profile_narrows_instances_and_a_fetch_needs_one() {
    let (mut s, _) = session_with(ClientContext::anonymous(), FETCH_ONLY);
    s.greeting();
    s.handle(&creds(0));
    let no_profile = ask(&mut s, &fetch(&[pmid(0, 1)], true));
    assert_eq!(error_of(&no_profile), PmError::NOPROFILE.code());
    let only_blue = Profile::only(InDom::from_parts(DOMAIN, 0), [2]);
    let p = enc(&Pdu::Profile(ProfilePdu::from_profile(0, &only_blue)));
    assert_eq!(s.handle(&p), Outcome::Quiet);
    let Pdu::HighResResult(r) = ask(&mut s, &fetch(&[pmid(0, 1)], true)) else {
        panic!()
    };
    assert_eq!(r.vsets[0].values, VSetValues::Insitu(vec![(2, 3)]));
}

#[test]
fn out_of_place_or_malformed_pdus_close_the_session() {
    // A request before the credentials.
    let (mut s, _) = session_with(ClientContext::anonymous(), FETCH_ONLY);
    s.greeting();
    assert_eq!(s.handle(&profile()), Outcome::Close);
    assert_eq!(error_of(&all(s.reply())[0]), PmError::IPC.code());
    // A malformed PDU after it.
    let mut s = ready(FETCH_ONLY);
    let mut bad = fetch(&[pmid(0, 0)], true);
    bad[27] = 9; // numpmid 9 with one PMID present
    assert_eq!(s.handle(&bad), Outcome::Close);
    // TLS, SASL or compression asked for: not offered, refused.
    let (mut s, _) = session_with(ClientContext::anonymous(), FETCH_ONLY);
    s.greeting();
    assert_eq!(s.handle(&creds(PDU_FLAG_SECURE)), Outcome::Close);
    // A well-formed PDU a client never sends: PM_ERR_IPC, and on we go.
    let mut s = ready(FETCH_ONLY);
    let desc = enc(&Pdu::Desc(DescPdu {
        pmid: pmid(0, 0),
        ty: 1,
        indom: InDom::NULL,
        sem: 3,
        units: 0,
    }));
    assert_eq!(error_of(&ask(&mut s, &desc)), PmError::IPC.code());
    assert!(matches!(
        ask(&mut s, &enc(&Pdu::DescReq(pmid(0, 0)))),
        Pdu::Desc(_)
    ));
}

#[test]
fn a_container_attribute_follows_the_credentials() {
    let (mut s, _) = session_with(ClientContext::anonymous(), FETCH_ONLY);
    s.greeting();
    assert_eq!(s.handle(&creds(PDU_FLAG_CONTAINER)), Outcome::Quiet);
    let attr = enc(&Pdu::Attr(AttrPdu {
        attr: attr::CONTAINER,
        value: b"web1".to_vec(),
    }));
    assert_eq!(s.handle(&attr), Outcome::Quiet);
    assert_eq!(s.client().container.as_deref(), Some("web1"));
    let ctx = enc(&Pdu::LabelReq(IdentReq {
        ident: PM_IN_NULL,
        kind: 1,
    }));
    let Pdu::Label(l) = ask(&mut s, &ctx) else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&l.sets[0].json).contains(r#""container":"web1""#));
    // Anything but the attribute after asking for one ends the session.
    let (mut s, _) = session_with(ClientContext::anonymous(), FETCH_ONLY);
    s.greeting();
    s.handle(&creds(PDU_FLAG_CONTAINER));
    assert_eq!(s.handle(&profile()), Outcome::Close);
}

#[test]
fn context_labels_carry_known_credentials_as_optional_labels() {
    let (mut s, _) = session_with(ClientContext::user(1000, 100), FETCH_ONLY);
    s.greeting();
    s.handle(&creds(0));
    let req = enc(&Pdu::LabelReq(IdentReq {
        ident: PM_IN_NULL,
        kind: 1,
    }));
    let Pdu::Label(l) = ask(&mut s, &req) else {
        panic!()
    };
    let set = &l.sets[0];
    let flags: Vec<(String, u8)> = set
        .labels
        .iter()
        .map(|w| {
            let n = &set.json[w.name as usize..w.name as usize + w.namelen as usize];
            (String::from_utf8_lossy(n).into_owned(), w.flags)
        })
        .collect();
    assert!(flags.contains(&("userid".into(), 0x81)), "{flags:?}");
    assert!(flags.contains(&("groupid".into(), 0x81)), "{flags:?}");
    assert!(flags.contains(&("hostname".into(), 0x01)), "{flags:?}");
}

#[test]
fn descriptors_singly_and_in_lists() {
    let mut s = ready(FETCH_ONLY);
    let Pdu::Desc(d) = ask(&mut s, &enc(&Pdu::DescReq(pmid(0, 2)))) else {
        panic!()
    };
    assert_eq!(
        (d.ty, d.sem),
        (Type::String.code(), Semantics::Discrete.code())
    );
    let unknown_domain = Pmid::from_parts(77, 0, 0);
    assert_eq!(
        error_of(&ask(&mut s, &enc(&Pdu::DescReq(unknown_domain)))),
        PmError::PMID.code()
    );
    let ids = |pmids: Vec<Pmid>| enc(&Pdu::DescIds(PmnsIdsPdu { status: -1, pmids }));
    let Pdu::Descs(d) = ask(&mut s, &ids(vec![pmid(0, 0), pmid(9, 9), unknown_domain])) else {
        panic!()
    };
    assert_eq!(d[0].pmid, pmid(0, 0));
    assert_eq!(d[1].pmid.raw(), u32::MAX);
    assert_eq!(d[2].pmid.raw(), u32::MAX);
    assert_eq!(
        error_of(&ask(&mut s, &ids(vec![pmid(9, 9)]))),
        PmError::PMID.code()
    );
}

#[test]
fn names_lookups_children_and_traversals() {
    let mut s = ready(FETCH_ONLY);
    let names = |n: &[&str]| {
        enc(&Pdu::PmnsNames(PmnsNamesPdu {
            names: n.iter().map(|x| x.as_bytes().to_vec()).collect(),
            status: None,
        }))
    };
    let Pdu::PmnsIds(ids) = ask(&mut s, &names(&["demo.name", "no.such", "pmcd.pid"])) else {
        panic!()
    };
    assert_eq!(ids.status, 2);
    assert_eq!(ids.pmids[0], pmid(0, 2));
    assert_eq!(ids.pmids[1].raw(), u32::MAX);
    assert_eq!(ids.pmids[2], Pmid::from_parts(2, 0, 23));
    assert_eq!(
        error_of(&ask(&mut s, &names(&["no.such"]))),
        PmError::NAME.code()
    );
    assert_eq!(
        error_of(&ask(&mut s, &names(&["demo"]))),
        PmError::NONLEAF.code()
    );
    let Pdu::PmnsNames(n) = ask(
        &mut s,
        &enc(&Pdu::PmnsIds(PmnsIdsPdu {
            status: 0,
            pmids: vec![pmid(1, 0)],
        })),
    ) else {
        panic!()
    };
    assert_eq!(n.names, vec![b"demo.seconds".to_vec()]);
    let who = |p| {
        enc(&Pdu::PmnsIds(PmnsIdsPdu {
            status: 0,
            pmids: vec![p],
        }))
    };
    assert_eq!(
        error_of(&ask(&mut s, &who(pmid(9, 9)))),
        PmError::PMID.code()
    );
    assert_eq!(
        error_of(&ask(&mut s, &who(Pmid::from_parts(77, 0, 0)))),
        PmError::NOAGENT.code()
    );
    let child = |name: &str, subtype| {
        enc(&Pdu::PmnsChild(PmnsNamePdu {
            subtype,
            name: name.as_bytes().to_vec(),
        }))
    };
    let Pdu::PmnsNames(n) = ask(&mut s, &child("", 1)) else {
        panic!()
    };
    assert_eq!(n.names, vec![b"demo".to_vec(), b"pmcd".to_vec()]);
    assert_eq!(n.status, Some(vec![1, 1]));
    let Pdu::PmnsNames(n) = ask(&mut s, &child("demo", 0)) else {
        panic!()
    };
    assert_eq!(n.names.len(), 6);
    assert_eq!(n.status, None);
    let trav = |name: &str| {
        enc(&Pdu::PmnsTraverse(PmnsNamePdu {
            subtype: 0,
            name: name.as_bytes().to_vec(),
        }))
    };
    let Pdu::PmnsNames(n) = ask(&mut s, &trav("demo.name")) else {
        panic!()
    };
    assert_eq!(n.names, vec![b"demo.name".to_vec()]);
    let Pdu::PmnsNames(n) = ask(&mut s, &trav("")) else {
        panic!()
    };
    assert_eq!(n.names.len(), 6 + 108);
    assert_eq!(
        error_of(&ask(&mut s, &trav("nothing"))),
        PmError::NAME.code()
    );
}

#[test]
fn instances_help_and_labels() {
    let mut s = ready(FETCH_ONLY);
    let indom = InDom::from_parts(DOMAIN, 0);
    let req = |inst: u32, name: &str| {
        enc(&Pdu::InstanceReq(InstanceReq {
            indom,
            inst,
            name: name.as_bytes().to_vec(),
        }))
    };
    let Pdu::Instance(i) = ask(&mut s, &req(PM_IN_NULL, "")) else {
        panic!()
    };
    assert_eq!(i.instances.len(), 3);
    let Pdu::Instance(i) = ask(&mut s, &req(PM_IN_NULL, "green")) else {
        panic!()
    };
    assert_eq!(i.instances, vec![(1, Vec::new())]);
    let Pdu::Instance(i) = ask(&mut s, &req(2, "")) else {
        panic!()
    };
    assert_eq!(i.instances, vec![(PM_IN_NULL, b"blue".to_vec())]);
    let other = enc(&Pdu::InstanceReq(InstanceReq {
        indom: InDom::from_parts(77, 0),
        inst: PM_IN_NULL,
        name: vec![],
    }));
    assert_eq!(error_of(&ask(&mut s, &other)), PmError::INDOM.code());

    let text = |ident: u32, kind: i32| enc(&Pdu::TextReq(IdentReq { ident, kind }));
    let Pdu::Text(t) = ask(&mut s, &text(pmid(0, 0).raw(), 6)) else {
        panic!()
    };
    assert_eq!(t.text, b"A setting clients may store into.");
    assert_eq!(
        error_of(&ask(&mut s, &text(Pmid::from_parts(77, 0, 0).raw(), 5))),
        PmError::PMID.code()
    );

    let label = |ident: u32, kind: i32| enc(&Pdu::LabelReq(IdentReq { ident, kind }));
    let Pdu::Label(l) = ask(&mut s, &label(DOMAIN, 2)) else {
        panic!()
    };
    assert_eq!(l.sets[0].json, br#"{"agent":"demo"}"#);
    let Pdu::Label(l) = ask(&mut s, &label(indom.raw(), 32)) else {
        panic!()
    };
    let insts: Vec<u32> = l.sets.iter().map(|s| s.inst).collect();
    assert_eq!(insts, vec![0, 1, 2]);
    assert_eq!(l.sets[2].json, br#"{"shade":"dark"}"#);
    assert_eq!(
        error_of(&ask(&mut s, &label(77, 2))),
        PmError::NOAGENT.code()
    );
    assert_eq!(
        error_of(&ask(&mut s, &label(DOMAIN, 3))),
        PmError::TYPE.code()
    );
}

fn store_setting(v: u32) -> Vec<u8> {
    enc(&Pdu::Result(ResultPdu {
        tv_sec: 0,
        tv_usec: 0,
        vsets: vec![VSet {
            pmid: pmid(0, 0),
            values: VSetValues::Insitu(vec![(PM_IN_NULL, v)]),
        }],
    }))
}

#[test]
fn stores_need_the_store_operation() {
    let mut s = ready(FETCH_ONLY);
    assert_eq!(
        error_of(&ask(&mut s, &store_setting(9))),
        PmError::PERMISSION.code()
    );
    let mut s = ready(Ops {
        fetch: true,
        store: true,
    });
    assert_eq!(error_of(&ask(&mut s, &store_setting(9))), 0);
    let Pdu::HighResResult(r) = ask(&mut s, &fetch(&[pmid(0, 0)], true)) else {
        panic!()
    };
    assert_eq!(r.vsets[0].values, VSetValues::Insitu(vec![(PM_IN_NULL, 9)]));
    // A read-only metric, and a domain with no agent.
    let mut ro = store_setting(1);
    ro[24..28].copy_from_slice(&pmid(0, 2).raw().to_be_bytes());
    assert!(error_of(&ask(&mut s, &ro)) < 0);
    ro[24..28].copy_from_slice(&Pmid::from_parts(77, 0, 0).raw().to_be_bytes());
    assert_eq!(error_of(&ask(&mut s, &ro)), PmError::NOAGENT.code());
    // A client with no fetch permission gets nothing else, profiles included.
    let (mut s, _) = session_with(
        ClientContext::anonymous(),
        Ops {
            fetch: false,
            store: true,
        },
    );
    s.greeting();
    assert_eq!(s.handle(&creds(0)), Outcome::Quiet);
    assert_eq!(
        error_of(&ask(&mut s, &profile())),
        PmError::PERMISSION.code()
    );
    assert_eq!(
        error_of(&ask(&mut s, &enc(&Pdu::DescReq(pmid(0, 0))))),
        PmError::PERMISSION.code()
    );
}

#[test]
fn a_namespace_change_is_told_once_before_the_next_result() {
    let (mut s, grow) = session_with(ClientContext::anonymous(), FETCH_ONLY);
    s.greeting();
    s.handle(&creds(0));
    s.handle(&profile());
    grow.store(true, Ordering::Release);
    // A traversal makes the host look at names now.
    let trav = enc(&Pdu::PmnsTraverse(PmnsNamePdu {
        subtype: 0,
        name: b"demo".to_vec(),
    }));
    assert_eq!(s.handle(&trav), Outcome::Reply);
    assert_eq!(s.handle(&fetch(&[pmid(0, 0)], true)), Outcome::Reply);
    let replies = all(s.reply());
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(error_of(&replies[0]), PMCD_NAMES_CHANGE);
    assert!(matches!(replies[1], Pdu::HighResResult(_)));
    assert_eq!(s.handle(&fetch(&[pmid(0, 0)], true)), Outcome::Reply);
    assert_eq!(all(s.reply()).len(), 1, "told only once");
}

#[test]
fn profiles_are_bounded_per_client() {
    let mut s = ready(FETCH_ONLY);
    let limits = SessionLimits::default();
    for ctx in 1..limits.max_profiles as i32 {
        let p = enc(&Pdu::Profile(ProfilePdu::from_profile(
            ctx,
            &Profile::all(),
        )));
        assert_eq!(s.handle(&p), Outcome::Quiet, "context {ctx}");
    }
    let p = enc(&Pdu::Profile(ProfilePdu::from_profile(
        9999,
        &Profile::all(),
    )));
    assert_eq!(error_of(&ask(&mut s, &p)), PmError::TOOBIG.code());
    // Replacing an existing context's profile is always fine.
    assert_eq!(s.handle(&profile()), Outcome::Quiet);
}
