//! The client side of the protocol: what pmcd and a libpcp client say to
//! each other beyond the PDUs pmcd shares with its agents.
//!
//! A connection opens with pmcd speaking first: a 20-byte PDU_ERROR whose
//! first word is a status (0, or a refusal such as PM_ERR_CONNLIMIT, as
//! a PCP 1.x code: [`status_to_v1`]) and whose second word is the
//! *challenge*: the protocol version and the features the server offers
//! ([`challenge`]). The client answers with PDU_CREDS (its pid in `from`,
//! one CVERSION credential naming the features it wants) and, when it asked
//! for [`super::PDU_FLAG_CONTAINER`], a PDU_ATTR naming its container. No
//! reply follows unless the server refuses.
//!
//! After that, requests are the pmcd-to-agent PDUs plus
//! [`super::types::HIGHRES_FETCH`] (answered with a [`HighResResultPdu`]:
//! the RESULT layout with a 64-bit seconds and nanoseconds stamp) and
//! [`super::types::DESC_IDS`] (answered with PDU_DESCS). Before a fetch
//! reply, pmcd may send a PDU_ERROR with a *positive* code: state changes
//! ([`PMCD_ADD_AGENT`], [`super::PMCD_NAMES_CHANGE`], ...) the client
//! applies before reading the result.
//!
//! ```
//! use pcp_core::pdu::client::{challenge, challenge_features};
//! use pcp_core::pdu::{PDU_FLAG_DESCS, PDU_FLAG_HIGHRES, PDU_FLAG_LABELS};
//! let c = challenge(PDU_FLAG_DESCS | PDU_FLAG_LABELS | PDU_FLAG_HIGHRES);
//! assert_eq!(c, 0x0201_0e00);
//! assert_eq!(challenge_features(c), (2, 0x0e00));
//! ```

use super::VSet;

/// State-change flag: an agent was added.
pub const PMCD_ADD_AGENT: i32 = 1;
/// State-change flag: an agent was restarted.
pub const PMCD_RESTART_AGENT: i32 = 2;
/// State-change flag: an agent was dropped.
pub const PMCD_DROP_AGENT: i32 = 4;

/// The challenge word pmcd sends a new client: `zero:1 version:7
/// licensed:8 features:16`, most significant first (version 2, licensed 1).
pub fn challenge(features: u32) -> u32 {
    super::PDU_VERSION << 24 | 1 << 16 | (features & 0xffff)
}

/// The (version, features) of a challenge word.
pub fn challenge_features(word: u32) -> (u32, u32) {
    ((word >> 24) & 0x7f, word & 0xffff)
}

/// The first error base (PM_ERR_BASE2, 12345) and the retired PCP 1.x one.
const PM_ERR_BASE2: i32 = 12345;
const PM_ERR_BASE1: i32 = 1000;

/// A status as the connection acknowledgement carries it: PCP 2+ error
/// codes are sent in their PCP 1.x numbering (a legacy every pmcd keeps).
pub fn status_to_v1(code: i32) -> i32 {
    if code <= -PM_ERR_BASE2 {
        code + PM_ERR_BASE2 - PM_ERR_BASE1
    } else {
        code
    }
}

/// The status of a connection acknowledgement in today's numbering.
pub fn status_from_v1(code: i32) -> i32 {
    if code <= -PM_ERR_BASE1 {
        code + PM_ERR_BASE1 - PM_ERR_BASE2
    } else {
        code
    }
}

/// PDU_HIGHRES_RESULT: a fetch reply with a nanosecond timestamp. On the
/// wire: `numpmid`, then 64-bit seconds and nanoseconds, then the value
/// sets and blocks as in PDU_RESULT (block offsets in words from the start
/// of the PDU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighResResultPdu {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: i64,
    /// One set per metric, in request order.
    pub vsets: Vec<VSet>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PmError;

    #[test]
    fn pmcd_6_challenge_decodes() {
        // pmcd 6.0.3 with SASL built in, captured: DESCS|HIGHRES|LABELS|CONTAINER|AUTH.
        assert_eq!(challenge_features(0x0201_0e44), (2, 0x0e44));
    }

    #[test]
    fn refusals_travel_in_v1_numbering() {
        let v1 = status_to_v1(PmError::CONNLIMIT.code());
        assert_eq!(v1, -1043);
        assert_eq!(status_from_v1(v1), PmError::CONNLIMIT.code());
        assert_eq!(status_to_v1(0), 0);
        assert_eq!(status_to_v1(-13), -13);
    }
}
