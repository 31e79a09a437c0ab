//! Fuzzes the decoder on what a client sends pmcd and what pmcd answers:
//! the first byte picks a client-side PDU type (CREDS, ATTR, PROFILE,
//! FETCH, HIGHRES_FETCH, DESC_IDS, the PMNS requests, a store RESULT, the
//! connection acknowledgement, HIGHRES_RESULT, DESCS), the rest is its
//! body behind a well-formed header. Decoding never panics; whatever
//! decodes re-encodes to bytes that decode to the same PDU; the
//! acknowledgement's status and challenge words round-trip.
//!
//! `cargo +nightly fuzz run client_pdu_decode` (from this directory).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcp_core::pdu::client::{challenge, challenge_features, status_from_v1, status_to_v1};
use pcp_core::pdu::{decode, types, Encoder};

const CLIENT_SIDE: [u32; 15] = [
    types::CREDS,
    types::ATTR,
    types::PROFILE,
    types::FETCH,
    types::HIGHRES_FETCH,
    types::DESC_IDS,
    types::DESC_REQ,
    types::PMNS_NAMES,
    types::PMNS_IDS,
    types::PMNS_CHILD,
    types::PMNS_TRAVERSE,
    types::RESULT,
    types::ERROR,
    types::HIGHRES_RESULT,
    types::DESCS,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let ty = CLIENT_SIDE[sel as usize % CLIENT_SIDE.len()];
    let mut pdu = Vec::with_capacity(12 + body.len());
    pdu.extend_from_slice(&((12 + body.len()) as u32).to_be_bytes());
    pdu.extend_from_slice(&ty.to_be_bytes());
    pdu.extend_from_slice(&u32::from(sel).to_be_bytes());
    pdu.extend_from_slice(body);
    if let Ok((h, p)) = decode(&pdu) {
        let mut out = Vec::new();
        Encoder::default().encode(&p, h.from, &mut out);
        let (h2, again) = decode(&out).expect("re-encoded PDU decodes");
        assert_eq!(h2.from, h.from);
        assert_eq!(again, p);
    }
    if body.len() >= 8 {
        let word = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let (v, f) = challenge_features(challenge(word));
        assert_eq!((v, f), (2, word & 0xffff));
        let code = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
        if code > -1000 || code <= -12345 {
            assert_eq!(status_from_v1(status_to_v1(code)), code);
        }
    }
});
