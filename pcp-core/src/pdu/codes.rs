//! The protocol's numbers: PDU type codes and their names, text-request
//! flags and connection attribute codes.

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
