//! Fuzzes the PDU decoder: any bytes decode or fail with an error, never
//! panic; whatever decodes re-encodes to bytes that decode to the same PDU.
//!
//! `cargo +nightly fuzz run pdu_decode` (from this directory).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcp_core::pdu::{decode, frame::read_pdu, Encoder};

fuzz_target!(|data: &[u8]| {
    if let Ok((h, pdu)) = decode(data) {
        let mut out = Vec::new();
        Encoder::default().encode(&pdu, h.from, &mut out);
        let (h2, again) = decode(&out).expect("re-encoded PDU decodes");
        assert_eq!(h2.from, h.from);
        assert_eq!(again, pdu);
    }
    // The framing reader over the same bytes as a stream of PDUs.
    let mut r = data;
    let mut buf = Vec::new();
    while let Ok(Some(_)) = read_pdu(&mut r, &mut buf, 1 << 20) {
        let _ = decode(&buf);
    }
});
