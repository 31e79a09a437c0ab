//! Property tests of the PDU codec: random bytes never panic the decoder,
//! and every PDU the encoder can make decodes back to itself.

use pcp_core::pdu::*;
use pcp_core::{InDom, Pmid, Value};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn pmid() -> impl Strategy<Value = Pmid> {
    any::<u32>().prop_map(Pmid::from_raw)
}

fn block() -> impl Strategy<Value = ValueBlock> {
    (any::<u8>(), bytes(40)).prop_map(|(vtype, data)| ValueBlock { vtype, data })
}

fn vset() -> impl Strategy<Value = VSet> {
    let values = prop_oneof![
        (i32::MIN..0).prop_map(VSetValues::Error),
        vec((any::<u32>(), any::<u32>()), 0..5).prop_map(VSetValues::Insitu),
        (1..=2i32, vec((any::<u32>(), block()), 1..4))
            .prop_map(|(valfmt, values)| VSetValues::Blocks { valfmt, values }),
    ];
    (pmid(), values).prop_map(|(pmid, values)| VSet { pmid, values })
}

fn wire_label() -> impl Strategy<Value = WireLabel> {
    (
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(name, namelen, flags, value, valuelen)| WireLabel {
            name,
            namelen,
            flags,
            value,
            valuelen,
        })
}

fn pdu() -> impl Strategy<Value = Pdu> {
    prop_oneof![
        (any::<i32>(), proptest::option::of(any::<i32>()))
            .prop_map(|(code, extra)| Pdu::Error(ErrorPdu { code, extra })),
        (any::<i32>(), any::<i32>(), vec(vset(), 0..6)).prop_map(|(tv_sec, tv_usec, vsets)| {
            Pdu::Result(ResultPdu {
                tv_sec,
                tv_usec,
                vsets,
            })
        }),
        (
            any::<i32>(),
            any::<i32>(),
            vec((any::<u32>(), any::<i32>(), vec(any::<u32>(), 0..5)), 0..4)
        )
            .prop_map(|(ctx, global, e)| Pdu::Profile(ProfilePdu {
                ctx,
                global,
                entries: e
                    .into_iter()
                    .map(|(i, state, insts)| ProfileEntry {
                        indom: InDom::from_raw(i),
                        state,
                        insts
                    })
                    .collect(),
            })),
        (any::<i32>(), vec(pmid(), 0..10))
            .prop_map(|(ctx, pmids)| Pdu::Fetch(FetchPdu { ctx, pmids })),
        pmid().prop_map(Pdu::DescReq),
        (
            pmid(),
            any::<i32>(),
            any::<u32>(),
            any::<i32>(),
            any::<u32>()
        )
            .prop_map(|(pmid, ty, indom, sem, units)| Pdu::Desc(DescPdu {
                pmid,
                ty,
                indom: InDom::from_raw(indom),
                sem,
                units
            })),
        (any::<u32>(), any::<u32>(), bytes(20)).prop_map(|(i, inst, name)| Pdu::InstanceReq(
            InstanceReq {
                indom: InDom::from_raw(i),
                inst,
                name
            }
        )),
        (any::<u32>(), vec((any::<u32>(), bytes(12)), 0..5)).prop_map(|(i, instances)| {
            Pdu::Instance(InstancePdu {
                indom: InDom::from_raw(i),
                instances,
            })
        }),
        (any::<u32>(), any::<i32>())
            .prop_map(|(ident, kind)| Pdu::TextReq(IdentReq { ident, kind })),
        (any::<u32>(), any::<i32>())
            .prop_map(|(ident, kind)| Pdu::LabelReq(IdentReq { ident, kind })),
        (any::<u32>(), bytes(50)).prop_map(|(ident, text)| Pdu::Text(TextPdu { ident, text })),
        vec(any::<u32>(), 0..8).prop_map(|creds| Pdu::Creds(CredsPdu { creds })),
        (any::<i32>(), vec(pmid(), 0..4))
            .prop_map(|(status, pmids)| Pdu::PmnsIds(PmnsIdsPdu { status, pmids })),
        (vec(bytes(20), 0..6), any::<bool>()).prop_map(|(names, st)| {
            let status = (st && !names.is_empty()).then(|| (0..names.len() as i32).collect());
            Pdu::PmnsNames(PmnsNamesPdu { names, status })
        }),
        (any::<i32>(), bytes(30))
            .prop_map(|(subtype, name)| Pdu::PmnsChild(PmnsNamePdu { subtype, name })),
        (any::<i32>(), bytes(30))
            .prop_map(|(subtype, name)| Pdu::PmnsTraverse(PmnsNamePdu { subtype, name })),
        (any::<i32>(), bytes(30)).prop_map(|(attr, value)| Pdu::Attr(AttrPdu { attr, value })),
        (
            any::<u32>(),
            any::<i32>(),
            vec((any::<u32>(), bytes(30), vec(wire_label(), 0..4)), 0..4)
        )
            .prop_map(|(ident, kind, sets)| Pdu::Label(LabelPdu {
                ident,
                kind,
                sets: sets
                    .into_iter()
                    .map(|(inst, json, labels)| WireLabelSet { inst, json, labels })
                    .collect(),
            })),
        (any::<i32>(), vec(pmid(), 0..10))
            .prop_map(|(ctx, pmids)| Pdu::HighResFetch(FetchPdu { ctx, pmids })),
        (any::<i64>(), any::<i64>(), vec(vset(), 0..6)).prop_map(|(sec, nsec, vsets)| {
            Pdu::HighResResult(HighResResultPdu { sec, nsec, vsets })
        }),
        (any::<i32>(), vec(pmid(), 0..6))
            .prop_map(|(status, pmids)| Pdu::DescIds(PmnsIdsPdu { status, pmids })),
        vec(
            (
                pmid(),
                any::<i32>(),
                any::<u32>(),
                any::<i32>(),
                any::<u32>()
            ),
            0..4
        )
        .prop_map(|d| Pdu::Descs(
            d.into_iter()
                .map(|(pmid, ty, indom, sem, units)| DescPdu {
                    pmid,
                    ty,
                    indom: InDom::from_raw(indom),
                    sem,
                    units
                })
                .collect()
        )),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::I32),
        any::<u32>().prop_map(Value::U32),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(Value::U64),
        any::<f32>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Value::Float),
        any::<f64>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Value::Double),
        "[^\0]{0,20}".prop_map(Value::String),
        bytes(20).prop_map(Value::Aggregate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(b in bytes(200)) {
        let _ = decode(&b);
    }

    /// Random bodies behind a valid header reach every body parser.
    #[test]
    fn random_bodies_never_panic(ty in 0x7000u32..=0x7018, body in bytes(200), from in any::<u32>()) {
        let mut b = Vec::with_capacity(12 + body.len());
        b.extend_from_slice(&((12 + body.len()) as u32).to_be_bytes());
        b.extend_from_slice(&ty.to_be_bytes());
        b.extend_from_slice(&from.to_be_bytes());
        b.extend_from_slice(&body);
        if let Ok((h, p)) = decode(&b) {
            // Whatever decodes re-encodes to something that decodes the same.
            let mut out = Vec::new();
            Encoder::default().encode(&p, h.from, &mut out);
            let (h2, p2) = decode(&out).expect("re-encoded PDU decodes");
            prop_assert_eq!(h2.from, h.from);
            prop_assert_eq!(p2, p);
        }
    }

    #[test]
    fn encode_then_decode_is_identity(p in pdu(), from in any::<u32>(), zero in any::<bool>()) {
        let enc = if zero { Encoder::ZERO_PAD } else { Encoder::default() };
        let mut out = vec![0xaa; 3]; // encoding appends
        enc.encode(&p, from, &mut out);
        let (h, back) = decode(&out[3..]).expect("encoded PDU decodes");
        prop_assert_eq!(h.len as usize, out.len() - 3);
        prop_assert_eq!(h.from, from);
        let unpadded = matches!(p, Pdu::Label(_) | Pdu::Attr(_));
        prop_assert!(unpadded || h.len % 4 == 0, "padded PDU of {} bytes", h.len);
        prop_assert_eq!(back, p);
    }

    #[test]
    fn fetch_results_carry_every_value_type(
        sets in vec((pmid(), prop_oneof![
            (i32::MIN..0).prop_map(|c| Err(pcp_core::PmError::from_code(c))),
            vec((any::<u32>(), value()), 0..4).prop_map(Ok),
        ]), 0..8)
    ) {
        let mut out = Vec::new();
        Encoder::default().fetch_result(16, &sets, &mut out);
        prop_assert_eq!(out.len() % 4, 0);
        let (_, Pdu::Result(r)) = decode(&out).expect("RESULT decodes") else {
            return Err(TestCaseError::fail("not a RESULT"));
        };
        prop_assert_eq!(r.tv_sec, 16);
        prop_assert_eq!(r.vsets.len(), sets.len());
        for ((pmid, want), got) in sets.iter().zip(&r.vsets) {
            prop_assert_eq!(*pmid, got.pmid);
            match (want, &got.values) {
                (Err(e), VSetValues::Error(c)) => prop_assert_eq!(e.code(), *c),
                (Ok(v), VSetValues::Insitu(w)) => {
                    prop_assert_eq!(v.len(), w.len());
                    for ((inst, val), (i2, word)) in v.iter().zip(w) {
                        prop_assert_eq!(inst, i2);
                        prop_assert_eq!(Some(*word), insitu_from_value(val));
                    }
                }
                (Ok(v), VSetValues::Blocks { valfmt, values }) => {
                    prop_assert_eq!(*valfmt, PM_VAL_DPTR);
                    prop_assert_eq!(v.len(), values.len());
                    for ((inst, val), (i2, b)) in v.iter().zip(values) {
                        prop_assert_eq!(inst, i2);
                        prop_assert_eq!(&value_from_block(b).unwrap(), val);
                    }
                }
                (w, g) => return Err(TestCaseError::fail(format!("{w:?} encoded as {g:?}"))),
            }
        }
    }
}
