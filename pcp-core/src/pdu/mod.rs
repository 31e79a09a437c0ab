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
//! conversions to and from the crate's model ([`Value`], [`LabelSet`],
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
mod decode;
mod encode;
pub mod frame;
mod label;
pub mod reply;
mod value;

pub use client::HighResResultPdu;
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

/// PDU type codes (`PDU_*` in libpcp.h).
pub mod types {
    /// Error or status code (both ways).
    pub const ERROR: u32 = 0x7000;
    /// Fetch result (PMDA -> pmcd) or values to store (pmcd -> PMDA).
    pub const RESULT: u32 = 0x7001;
    /// Instance profile of a client (pmcd -> PMDA, no reply).
    pub const PROFILE: u32 = 0x7002;
    /// Fetch request.
    pub const FETCH: u32 = 0x7003;
    /// Descriptor request.
    pub const DESC_REQ: u32 = 0x7004;
    /// Descriptor.
    pub const DESC: u32 = 0x7005;
    /// Instance-domain request.
    pub const INSTANCE_REQ: u32 = 0x7006;
    /// Instance-domain reply.
    pub const INSTANCE: u32 = 0x7007;
    /// Help-text request.
    pub const TEXT_REQ: u32 = 0x7008;
    /// Help text.
    pub const TEXT: u32 = 0x7009;
    /// pmlogger control; never sent to PMDAs.
    pub const CONTROL_REQ: u32 = 0x700a;
    /// Version/feature handshake.
    pub const CREDS: u32 = 0x700c;
    /// PMIDs (name -> PMID reply, or PMID -> names request).
    pub const PMNS_IDS: u32 = 0x700d;
    /// Names (name -> PMID request, or names reply).
    pub const PMNS_NAMES: u32 = 0x700e;
    /// Children of a namespace node.
    pub const PMNS_CHILD: u32 = 0x700f;
    /// Leaves below a namespace node.
    pub const PMNS_TRAVERSE: u32 = 0x7010;
    /// Client attribute (credentials, container), no reply.
    pub const ATTR: u32 = 0x7011;
    /// Label request.
    pub const LABEL_REQ: u32 = 0x7012;
    /// Labels.
    pub const LABEL: u32 = 0x7013;
    /// Client-side high-resolution fetch (never sent to PMDAs).
    pub const HIGHRES_FETCH: u32 = 0x7014;
    /// Client-side high-resolution result (never sent to PMDAs).
    pub const HIGHRES_RESULT: u32 = 0x7015;
    /// Client-side descriptor-list request (never sent to PMDAs).
    pub const DESC_IDS: u32 = 0x7016;
    /// Client-side descriptor list (never sent to PMDAs).
    pub const DESCS: u32 = 0x7017;
    /// The first PDU type code.
    pub const FIRST: u32 = ERROR;
    /// The last PDU type code.
    pub const LAST: u32 = DESCS;
}

/// PCP's name for a PDU type code (`"FETCH"`), for logs.
pub fn type_name(ty: u32) -> &'static str {
    match ty {
        types::ERROR => "ERROR",
        types::RESULT => "RESULT",
        types::PROFILE => "PROFILE",
        types::FETCH => "FETCH",
        types::DESC_REQ => "DESC_REQ",
        types::DESC => "DESC",
        types::INSTANCE_REQ => "INSTANCE_REQ",
        types::INSTANCE => "INSTANCE",
        types::TEXT_REQ => "TEXT_REQ",
        types::TEXT => "TEXT",
        types::CONTROL_REQ => "CONTROL_REQ",
        types::CREDS => "CREDS",
        types::PMNS_IDS => "PMNS_IDS",
        types::PMNS_NAMES => "PMNS_NAMES",
        types::PMNS_CHILD => "PMNS_CHILD",
        types::PMNS_TRAVERSE => "PMNS_TRAVERSE",
        types::ATTR => "ATTR",
        types::LABEL_REQ => "LABEL_REQ",
        types::LABEL => "LABEL",
        types::HIGHRES_FETCH => "HIGHRES_FETCH",
        types::HIGHRES_RESULT => "HIGHRES_RESULT",
        types::DESC_IDS => "DESC_IDS",
        types::DESCS => "DESCS",
        _ => "UNKNOWN",
    }
}

/// Credential word type CVERSION (bits 31..24 of a credential).
pub const CVERSION: u32 = 1;
/// The PDU protocol version (2).
pub const PDU_VERSION: u32 = 2;
/// Feature flag: TLS (a client asks for it in CREDS; a server offers it).
pub const PDU_FLAG_SECURE: u32 = 1;
/// Feature flag: compression (never implemented by PCP).
pub const PDU_FLAG_COMPRESS: u32 = 1 << 1;
/// CREDS feature flag: the PMDA wants client credentials (PDU_ATTR); from
/// a client, SASL authentication.
pub const PDU_FLAG_AUTH: u32 = 1 << 2;
/// Feature flag: the server requires client credentials.
pub const PDU_FLAG_CREDS_REQD: u32 = 1 << 3;
/// Feature flag: the server acknowledges a TLS request.
pub const PDU_FLAG_SECURE_ACK: u32 = 1 << 4;
/// Feature flag: (client) no NSS initialisation; unused since PCP 5.
pub const PDU_FLAG_NO_NSS_INIT: u32 = 1 << 5;
/// CREDS feature flag: the PMDA wants client container names (PDU_ATTR);
/// from a client, a PDU_ATTR naming its container follows the CREDS.
pub const PDU_FLAG_CONTAINER: u32 = 1 << 6;
/// Feature flag: the server requires a client certificate.
pub const PDU_FLAG_CERT_REQD: u32 = 1 << 7;
/// Feature flag: retired label encoding.
pub const PDU_FLAG_BAD_LABEL: u32 = 1 << 8;
/// Feature flag: the server answers label requests.
pub const PDU_FLAG_LABELS: u32 = 1 << 9;
/// Feature flag: the server answers HIGHRES_FETCH.
pub const PDU_FLAG_HIGHRES: u32 = 1 << 10;
/// Feature flag: the server answers DESC_IDS.
pub const PDU_FLAG_DESCS: u32 = 1 << 11;

/// RESULT `tv_sec` flag from a PMDA: its labels changed (`PMCD_LABEL_CHANGE`).
pub const PMCD_LABEL_CHANGE: i32 = 8;
/// RESULT `tv_sec` flag from a PMDA: its namespace changed (`PMCD_NAMES_CHANGE`).
pub const PMCD_NAMES_CHANGE: i32 = 16;

/// Value-set format: the value is in the instance entry itself.
pub const PM_VAL_INSITU: i32 = 0;
/// Value-set format: the value is in a value block (dynamic).
pub const PM_VAL_DPTR: i32 = 1;
/// Value-set format: the value is in a value block (static).
pub const PM_VAL_SPTR: i32 = 2;

/// Text request bits (`PM_TEXT_*`).
pub mod text {
    /// One-line summary.
    pub const ONELINE: i32 = 1;
    /// Long help.
    pub const HELP: i32 = 2;
    /// About a PMID.
    pub const PMID: i32 = 4;
    /// About an instance domain.
    pub const INDOM: i32 = 8;
}

/// Label flag: optional label ("note"), not part of a metric's identity.
pub const PM_LABEL_OPTIONAL: u8 = 0x80;
/// Label flag: the name came from a nested JSON object.
pub const PM_LABEL_COMPOUND: u8 = 0x40;

/// PDU_ATTR attribute codes (`PCP_ATTR_*`).
pub mod attr {
    /// Protocol name.
    pub const PROTOCOL: i32 = 1;
    /// TLS in use.
    pub const SECURE: i32 = 2;
    /// Compression in use.
    pub const COMPRESS: i32 = 3;
    /// SASL authentication in use.
    pub const USERAUTH: i32 = 4;
    /// User name of the client.
    pub const USERNAME: i32 = 5;
    /// SASL authentication name.
    pub const AUTHNAME: i32 = 6;
    /// SASL password.
    pub const PASSWORD: i32 = 7;
    /// SASL method.
    pub const METHOD: i32 = 8;
    /// SASL realm.
    pub const REALM: i32 = 9;
    /// Client connected over a unix socket.
    pub const UNIXSOCK: i32 = 10;
    /// Client user id (decimal text).
    pub const USERID: i32 = 11;
    /// Client group id (decimal text).
    pub const GROUPID: i32 = 12;
    /// Client process id (decimal text).
    pub const PROCESSID: i32 = 14;
    /// A local connection.
    pub const LOCAL: i32 = 13;
    /// Container name.
    pub const CONTAINER: i32 = 15;
    /// Exclusive connection.
    pub const EXCLUSIVE: i32 = 16;
}

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
