//! The PDU codec: PCP's wire protocol (PDU version 2, as spoken by pmcd
//! 6.0.3), both between pmcd and a PMDA and between a client and pmcd
//! ([`client`]: the connection handshake, high-resolution fetches and
//! descriptor lists).
//!
//! Every PDU starts with a 12-byte big-endian header (`len`, `type`,
//! `from`); [`decode`] takes one complete PDU (exactly `len` bytes) and
//! gives its [`Header`] and a typed [`Pdu`], or a [`PduError`] — it never
//! panics, whatever the bytes. [`Encoder`] appends PDUs to a caller's
//! `Vec<u8>`, so a daemon reuses one buffer for all its replies, with PCP's
//! exact layout rules: fixed fields 4-byte aligned, byte strings padded to 4
//! and the padding counted in `len`, except PDU_LABEL and PDU_ATTR which
//! are never padded. [`frame`] reads and writes whole PDUs on a stream.
//!
//! The types keep wire-level values (raw codes, byte strings), so that any
//! PDU pmcd or a PMDA sends decodes and re-encodes byte for byte; the
//! conversions to and from the crate's model ([`Value`](crate::Value), [`LabelSet`](crate::LabelSet),
//! [`Desc`], [`Profile`]) live beside them.
//!
//! ```
//! use pcp_core::pdu::{decode, Encoder, Pdu};
//! use pcp_core::Pmid;
//!
//! let mut buf = Vec::new();
//! Encoder::default().encode(&Pdu::DescReq(Pmid::from_parts(400, 0, 0)), 0, &mut buf);
//! assert_eq!(buf, [0, 0, 0, 16, 0, 0, 0x70, 0x04, 0, 0, 0, 0, 0x64, 0, 0, 0]);
//! let (header, pdu) = decode(&buf).unwrap();
//! assert_eq!((header.len, header.from), (16, 0));
//! assert_eq!(pdu, Pdu::DescReq(Pmid::from_parts(400, 0, 0)));
//! ```

pub mod client;
mod codes;
mod decode;
mod encode;
pub mod frame;
mod label;
pub mod reply;
mod value;

pub use client::HighResResultPdu;
pub use codes::{attr, text, type_name, types};
pub use codes::{
    CVERSION, PDU_FLAG_AUTH, PDU_FLAG_BAD_LABEL, PDU_FLAG_CERT_REQD, PDU_FLAG_COMPRESS,
    PDU_FLAG_CONTAINER, PDU_FLAG_CREDS_REQD, PDU_FLAG_DESCS, PDU_FLAG_HIGHRES, PDU_FLAG_LABELS,
    PDU_FLAG_NO_NSS_INIT, PDU_FLAG_SECURE, PDU_FLAG_SECURE_ACK, PDU_VERSION, PMCD_LABEL_CHANGE,
    PMCD_NAMES_CHANGE, PM_LABEL_COMPOUND, PM_LABEL_OPTIONAL, PM_VAL_DPTR, PM_VAL_INSITU,
    PM_VAL_SPTR,
};
pub use decode::{decode, decode_header};
pub use encode::Encoder;
pub use label::{labelset_from_wire, labelset_to_wire};
pub use value::{
    block_from_value, insitu_from_value, value_from_block, value_from_insitu, MAX_BLOCK_PAYLOAD,
};

use crate::desc::{Desc, Semantics, Type, Units};
use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::indom::{Profile, ProfileState};

/// Size of the PDU header (`len`, `type`, `from`).
pub const HEADER_LEN: usize = 12;

/// The largest PDU the framing reader accepts by default (64 MiB): far above
/// anything pmcd sends an agent, low enough that a corrupt length cannot
/// make us allocate the machine away.
pub const DEFAULT_MAX_PDU: usize = 64 << 20;

/// A failure to decode a PDU. Decoding never panics: every malformed input
/// is one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// Fewer bytes than a header.
    #[error("PDU of {0} bytes is shorter than its 12-byte header")]
    Short(usize),
    /// The header's `len` is not the number of bytes given.
    #[error("PDU header says {len} bytes but {actual} were given")]
    LengthMismatch {
        /// The header's `len`.
        len: u32,
        /// The bytes given.
        actual: usize,
    },
    /// The header's `len` is below 12 or above the reader's limit.
    #[error("PDU length {len} out of range 12..={max}")]
    BadLength {
        /// The header's `len` (as a signed value, as PCP reads it).
        len: i64,
        /// The limit.
        max: usize,
    },
    /// A type code this codec does not know (or one a PMDA never sees).
    #[error("unknown PDU type {0:#x}")]
    UnknownType(u32),
    /// The body does not follow the layout of its type.
    #[error("malformed {pdu} PDU: {what}")]
    Malformed {
        /// The PDU type name.
        pdu: &'static str,
        /// What is wrong.
        what: &'static str,
    },
}

/// The 12-byte header of every PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total length in bytes, header included.
    pub len: u32,
    /// The PDU type code ([`types`]).
    pub ty: u32,
    /// pmcd's client slot in requests, 0 in replies, a pid in CREDS.
    pub from: u32,
}

/// PDU_ERROR: a status or error code (`len` 16, or 20 with a second word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPdu {
    /// 0 for success or a negative PCP error / -errno.
    pub code: i32,
    /// The second word of the 20-byte extended form, if present.
    pub extra: Option<i32>,
}

/// PDU_CREDS: credential words (CVERSION: type, version, feature flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredsPdu {
    /// The raw credential words.
    pub creds: Vec<u32>,
}

impl CredsPdu {
    /// One CVERSION credential for PDU version 2 with `flags`.
    pub fn version(flags: u32) -> CredsPdu {
        CredsPdu {
            creds: vec![CVERSION << 24 | PDU_VERSION << 16 | (flags & 0xffff)],
        }
    }

    /// The (version, flags) of the first CVERSION credential, if any.
    pub fn version_flags(&self) -> Option<(u32, u32)> {
        self.creds
            .iter()
            .find(|&&c| c >> 24 == CVERSION)
            .map(|&c| ((c >> 16) & 0xff, c & 0xffff))
    }
}

/// One instance-domain entry of a PDU_PROFILE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEntry {
    /// The instance domain.
    pub indom: InDom,
    /// 0 = all instances except those listed, 1 = only those listed.
    pub state: i32,
    /// The instance ids listed.
    pub insts: Vec<u32>,
}

/// PDU_PROFILE: which instances a client wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePdu {
    /// The client's context number.
    pub ctx: i32,
    /// State for instance domains not listed (0 include all, 1 exclude all).
    pub global: i32,
    /// Per-indom entries.
    pub entries: Vec<ProfileEntry>,
}

fn profile_state(s: i32) -> ProfileState {
    if s == 0 {
        ProfileState::AllExcept
    } else {
        ProfileState::OnlyListed
    }
}

impl ProfilePdu {
    /// The crate's [`Profile`] for this PDU.
    pub fn to_profile(&self) -> Profile {
        let mut p = Profile {
            global: profile_state(self.global),
            indoms: Default::default(),
        };
        for e in &self.entries {
            p.indoms
                .insert(e.indom, (profile_state(e.state), e.insts.clone()));
        }
        p
    }

    /// The PDU for a [`Profile`] (entries in indom order).
    pub fn from_profile(ctx: i32, profile: &Profile) -> ProfilePdu {
        let mut entries: Vec<ProfileEntry> = profile
            .indoms
            .iter()
            .map(|(indom, (state, insts))| ProfileEntry {
                indom: *indom,
                state: *state as i32,
                insts: insts.clone(),
            })
            .collect();
        entries.sort_by_key(|e| e.indom);
        ProfilePdu {
            ctx,
            global: profile.global as i32,
            entries,
        }
    }
}

/// PDU_FETCH: the PMIDs wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPdu {
    /// The client's context number.
    pub ctx: i32,
    /// The metrics, in the order the reply must follow.
    pub pmids: Vec<Pmid>,
}

/// A value block (pmValueBlock): type and payload, header word excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueBlock {
    /// `PM_TYPE_*` of the payload.
    pub vtype: u8,
    /// The payload (`vlen - 4` bytes; strings include their NUL).
    pub data: Vec<u8>,
}

/// The values of one value set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VSetValues {
    /// `numval` < 0: the metric failed with this code.
    Error(i32),
    /// PM_VAL_INSITU values (32-bit, in place); empty means `numval` 0.
    Insitu(Vec<(u32, u32)>),
    /// Values in blocks; `valfmt` is PM_VAL_DPTR or PM_VAL_SPTR.
    Blocks {
        /// PM_VAL_DPTR (1) or PM_VAL_SPTR (2).
        valfmt: i32,
        /// (instance, block) pairs.
        values: Vec<(u32, ValueBlock)>,
    },
}

impl VSetValues {
    /// The `numval` of the set.
    pub fn numval(&self) -> i32 {
        match self {
            VSetValues::Error(c) => *c,
            VSetValues::Insitu(v) => v.len() as i32,
            VSetValues::Blocks { values, .. } => values.len() as i32,
        }
    }
}

/// One value set (pmValueSet) of a RESULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VSet {
    /// The metric.
    pub pmid: Pmid,
    /// Its values or error.
    pub values: VSetValues,
}

/// PDU_RESULT: a fetch reply, or values to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultPdu {
    /// Seconds, or from a PMDA the state-change flags ([`PMCD_NAMES_CHANGE`],
    /// [`PMCD_LABEL_CHANGE`]); garbage in a store request.
    pub tv_sec: i32,
    /// Microseconds (0 from a PMDA).
    pub tv_usec: i32,
    /// One set per metric, in request order.
    pub vsets: Vec<VSet>,
}

/// PDU_DESC: a descriptor as raw wire fields (PCP sends type -1 and
/// semantics 0 for unsupported metrics, which [`Desc`] cannot hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescPdu {
    /// The metric.
    pub pmid: Pmid,
    /// `PM_TYPE_*`.
    pub ty: i32,
    /// Instance domain or PM_INDOM_NULL.
    pub indom: InDom,
    /// `PM_SEM_*`.
    pub sem: i32,
    /// The units word.
    pub units: u32,
}

impl From<&Desc> for DescPdu {
    fn from(d: &Desc) -> DescPdu {
        DescPdu {
            pmid: d.pmid,
            ty: d.ty.code(),
            indom: d.indom,
            sem: d.sem.code(),
            units: d.units.to_word(),
        }
    }
}

impl DescPdu {
    /// The crate's [`Desc`], if type and semantics are valid.
    pub fn to_desc(&self) -> Result<Desc, PmError> {
        Ok(Desc::new(
            self.pmid,
            Type::from_code(self.ty)?,
            self.indom,
            Semantics::from_code(self.sem)?,
            Units::from_word(self.units),
        ))
    }
}

/// PDU_INSTANCE_REQ: all instances, the name of one, or the id of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceReq {
    /// The instance domain.
    pub indom: InDom,
    /// An instance id, or PM_IN_NULL.
    pub inst: u32,
    /// An instance name (no NUL), or empty.
    pub name: Vec<u8>,
}

/// PDU_INSTANCE: instance ids and names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePdu {
    /// The instance domain.
    pub indom: InDom,
    /// (id, name) pairs; a name may be empty, an id may be PM_IN_NULL.
    pub instances: Vec<(u32, Vec<u8>)>,
}

/// PDU_TEXT_REQ and PDU_LABEL_REQ: an identifier and a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentReq {
    /// A PMID, an InDom or (labels) a domain number.
    pub ident: u32,
    /// `PM_TEXT_*` bits or a `PM_LABEL_*` level.
    pub kind: i32,
}

/// PDU_TEXT: help text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPdu {
    /// The request's ident, echoed.
    pub ident: u32,
    /// The text (no NUL).
    pub text: Vec<u8>,
}

/// PDU_PMNS_IDS: a status and PMIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmnsIdsPdu {
    /// 0, or a status (negative: error) in a reply.
    pub status: i32,
    /// The PMIDs (exactly one between pmcd and a PMDA).
    pub pmids: Vec<Pmid>,
}

/// PDU_PMNS_NAMES: names, with a status each (0 leaf, 1 non-leaf) or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmnsNamesPdu {
    /// The names (no NUL).
    pub names: Vec<Vec<u8>>,
    /// One status per name, or `None`.
    pub status: Option<Vec<i32>>,
}

/// PDU_PMNS_CHILD and PDU_PMNS_TRAVERSE: a name and a subtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmnsNamePdu {
    /// CHILD: 0 names only, 1 names with status; TRAVERSE: 0.
    pub subtype: i32,
    /// The full dotted name (no NUL).
    pub name: Vec<u8>,
}

/// PDU_ATTR: one client attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPdu {
    /// `PCP_ATTR_*` code ([`attr`]).
    pub attr: i32,
    /// The value bytes as sent (pmcd includes a trailing NUL).
    pub value: Vec<u8>,
}

impl AttrPdu {
    /// The value as text without its trailing NUL.
    pub fn text(&self) -> String {
        let v = match self.value.iter().position(|&b| b == 0) {
            Some(i) => &self.value[..i],
            None => &self.value[..],
        };
        String::from_utf8_lossy(v).into_owned()
    }
}

/// One label index entry (pmLabel); offsets relative to its set's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLabel {
    /// Offset of the name's first character (after the quote).
    pub name: u16,
    /// Name length.
    pub namelen: u8,
    /// Level bit, [`PM_LABEL_OPTIONAL`], [`PM_LABEL_COMPOUND`].
    pub flags: u8,
    /// Offset of the value's first byte.
    pub value: u16,
    /// Value length (quotes included for strings).
    pub valuelen: u16,
}

/// One label set of a PDU_LABEL: JSON text and its index sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLabelSet {
    /// Instance id (PM_IN_NULL except at the instances level).
    pub inst: u32,
    /// The JSON object text.
    pub json: Vec<u8>,
    /// The index, sorted by name.
    pub labels: Vec<WireLabel>,
}

impl WireLabelSet {
    /// The (name, value) JSON texts of the labels, in index order; entries
    /// whose offsets fall outside the JSON are skipped.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.labels
            .iter()
            .filter_map(|l| {
                let n = self
                    .json
                    .get(l.name as usize..l.name as usize + l.namelen as usize)?;
                let v = self
                    .json
                    .get(l.value as usize..l.value as usize + l.valuelen as usize)?;
                Some((n, v))
            })
            .collect()
    }
}

/// PDU_LABEL: label sets for one identifier at one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPdu {
    /// The request's ident, echoed.
    pub ident: u32,
    /// The request's level, echoed.
    pub kind: i32,
    /// The sets (at most one except at the instances level).
    pub sets: Vec<WireLabelSet>,
}

/// A decoded PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    /// PDU_ERROR.
    Error(ErrorPdu),
    /// PDU_RESULT.
    Result(ResultPdu),
    /// PDU_PROFILE.
    Profile(ProfilePdu),
    /// PDU_FETCH.
    Fetch(FetchPdu),
    /// PDU_DESC_REQ.
    DescReq(Pmid),
    /// PDU_DESC.
    Desc(DescPdu),
    /// PDU_INSTANCE_REQ.
    InstanceReq(InstanceReq),
    /// PDU_INSTANCE.
    Instance(InstancePdu),
    /// PDU_TEXT_REQ.
    TextReq(IdentReq),
    /// PDU_TEXT.
    Text(TextPdu),
    /// PDU_CREDS.
    Creds(CredsPdu),
    /// PDU_PMNS_IDS.
    PmnsIds(PmnsIdsPdu),
    /// PDU_PMNS_NAMES.
    PmnsNames(PmnsNamesPdu),
    /// PDU_PMNS_CHILD.
    PmnsChild(PmnsNamePdu),
    /// PDU_PMNS_TRAVERSE.
    PmnsTraverse(PmnsNamePdu),
    /// PDU_ATTR.
    Attr(AttrPdu),
    /// PDU_LABEL_REQ.
    LabelReq(IdentReq),
    /// PDU_LABEL.
    Label(LabelPdu),
    /// PDU_HIGHRES_FETCH (client to pmcd): the FETCH layout.
    HighResFetch(FetchPdu),
    /// PDU_HIGHRES_RESULT (pmcd to client).
    HighResResult(HighResResultPdu),
    /// PDU_DESC_IDS (client to pmcd): the PMNS_IDS layout, status -1.
    DescIds(PmnsIdsPdu),
    /// PDU_DESCS (pmcd to client): descriptors, PM_ID_NULL where one failed.
    Descs(Vec<DescPdu>),
}

impl Pdu {
    /// The PDU's type code.
    pub fn type_code(&self) -> u32 {
        match self {
            Pdu::Error(_) => types::ERROR,
            Pdu::Result(_) => types::RESULT,
            Pdu::Profile(_) => types::PROFILE,
            Pdu::Fetch(_) => types::FETCH,
            Pdu::DescReq(_) => types::DESC_REQ,
            Pdu::Desc(_) => types::DESC,
            Pdu::InstanceReq(_) => types::INSTANCE_REQ,
            Pdu::Instance(_) => types::INSTANCE,
            Pdu::TextReq(_) => types::TEXT_REQ,
            Pdu::Text(_) => types::TEXT,
            Pdu::Creds(_) => types::CREDS,
            Pdu::PmnsIds(_) => types::PMNS_IDS,
            Pdu::PmnsNames(_) => types::PMNS_NAMES,
            Pdu::PmnsChild(_) => types::PMNS_CHILD,
            Pdu::PmnsTraverse(_) => types::PMNS_TRAVERSE,
            Pdu::Attr(_) => types::ATTR,
            Pdu::LabelReq(_) => types::LABEL_REQ,
            Pdu::Label(_) => types::LABEL,
            Pdu::HighResFetch(_) => types::HIGHRES_FETCH,
            Pdu::HighResResult(_) => types::HIGHRES_RESULT,
            Pdu::DescIds(_) => types::DESC_IDS,
            Pdu::Descs(_) => types::DESCS,
        }
    }

    /// A PDU_ERROR with `code`.
    pub fn error(code: i32) -> Pdu {
        Pdu::Error(ErrorPdu { code, extra: None })
    }
}

/// Rounds `n` up to a multiple of 4.
pub const fn pad4(n: usize) -> usize {
    (n + 3) & !3
}
