//! Error types: PCP's numbered errors ([`PmError`]) and this crate's own
//! failures ([`IdError`], [`NamespaceError`], [`StoreError`]).
//!
//! [`PmError`] carries PCP's numeric codes one to one (PM_ERR_PMID is -12358
//! and so on), so a per-metric failure travels unchanged from an agent,
//! through the host, into a PDU or a rendered error line.

use std::fmt;
use std::path::PathBuf;

/// A PCP error as numbered by `pmapi.h`: the value an agent puts in a vset's
/// `numval`, or in a PDU_ERROR. `Display` gives the same text as `pmerr`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PmError(i32);

macro_rules! pm_errors {
    ($( $(#[$doc:meta])* $name:ident = $code:expr, $sym:expr, $text:expr; )*) => {
        impl PmError {
            $( $(#[$doc])* pub const $name: PmError = PmError($code); )*

            /// PCP's symbolic name (`PM_ERR_PMID`), if the code is one of PCP's.
            pub fn symbol(self) -> Option<&'static str> {
                match self.0 { $( $code => Some($sym), )* _ => None }
            }

            fn pcp_text(self) -> Option<&'static str> {
                match self.0 { $( $code => Some($text), )* _ => None }
            }
        }
    };
}

pm_errors! {
    /// Generic error, already reported.
    GENERIC = -12345, "PM_ERR_GENERIC", "Generic error, already reported above";
    /// Problems parsing PMNS definitions.
    PMNS = -12346, "PM_ERR_PMNS", "Problems parsing PMNS definitions";
    /// One-line or help text is not available.
    TEXT = -12349, "PM_ERR_TEXT", "One-line or help text is not available";
    /// Metric not supported by this version of the monitored application.
    APPVERSION = -12350, "PM_ERR_APPVERSION", "Metric not supported by this version of monitored application";
    /// Missing metric value(s).
    VALUE = -12351, "PM_ERR_VALUE", "Missing metric value(s)";
    /// Timeout waiting for a response.
    TIMEOUT = -12353, "PM_ERR_TIMEOUT", "Timeout waiting for a response from PMCD";
    /// Unknown metric name.
    NAME = -12357, "PM_ERR_NAME", "Unknown metric name";
    /// Unknown or illegal metric identifier.
    PMID = -12358, "PM_ERR_PMID", "Unknown or illegal metric identifier";
    /// Unknown or illegal instance domain identifier.
    INDOM = -12359, "PM_ERR_INDOM", "Unknown or illegal instance domain identifier";
    /// Unknown or illegal instance identifier.
    INST = -12360, "PM_ERR_INST", "Unknown or illegal instance identifier";
    /// Illegal pmUnits specification.
    UNIT = -12361, "PM_ERR_UNIT", "Illegal pmUnits specification";
    /// Impossible value or scale conversion.
    CONV = -12362, "PM_ERR_CONV", "Impossible value or scale conversion";
    /// Truncation in value conversion.
    TRUNC = -12363, "PM_ERR_TRUNC", "Truncation in value conversion";
    /// Negative value in conversion to unsigned.
    SIGN = -12364, "PM_ERR_SIGN", "Negative value in conversion to unsigned";
    /// IPC protocol failure.
    IPC = -12366, "PM_ERR_IPC", "IPC protocol failure";
    /// IPC channel closed.
    EOF = -12368, "PM_ERR_EOF", "IPC channel closed";
    /// A fetch arrived before any profile for its context.
    NOPROFILE = -12381, "PM_ERR_NOPROFILE", "Missing profile - protocol botch";
    /// No agent for the domain of the request.
    NOAGENT = -12386, "PM_ERR_NOAGENT", "No PMCD agent for domain of request";
    /// No permission to perform the requested operation.
    PERMISSION = -12387, "PM_ERR_PERMISSION", "No permission to perform requested operation";
    /// Too many connections: the server's client limit is reached.
    CONNLIMIT = -12388, "PM_ERR_CONNLIMIT", "PMCD connection limit for this host exceeded";
    /// Try again: information not currently available.
    AGAIN = -12389, "PM_ERR_AGAIN", "Try again. Information not currently available";
    /// Not connected (a client went away).
    NOTCONN = -12391, "PM_ERR_NOTCONN", "Not Connected";
    /// Metric name is not a leaf in the namespace.
    NONLEAF = -12394, "PM_ERR_NONLEAF", "Metric name is not a leaf in PMNS";
    /// Unknown or illegal metric type.
    TYPE = -12397, "PM_ERR_TYPE", "Unknown or illegal metric type";
    /// The client's container is not known on this host.
    NOCONTAINER = -12399, "PM_ERR_NOCONTAINER", "Container not found";
    /// Bad input to pmstore.
    BADSTORE = -12400, "PM_ERR_BADSTORE", "Bad input to pmstore";
    /// A derived metric definition failed (syntax or semantics).
    BADDERIVE = -12409, "PM_ERR_BADDERIVE", "Derived metric definition failed";
    /// No support for label metadata.
    NOLABELS = -12410, "PM_ERR_NOLABELS", "No support for metric label metadata";
    /// Internal inconsistency.
    BOTCH = -12442, "PM_ERR_BOTCH", "Internal inconsistency detected or assertion failed";
    /// Insufficient elements in list.
    TOOSMALL = -12443, "PM_ERR_TOOSMALL", "Insufficient elements in list";
    /// Result size exceeded.
    TOOBIG = -12444, "PM_ERR_TOOBIG", "Result size exceeded";
    /// The agent is ready (sent unsolicited once start-up is done).
    PMDAREADY = -13393, "PM_ERR_PMDAREADY", "PMDA is now responsive to requests";
    /// The agent is not yet ready.
    PMDANOTREADY = -13394, "PM_ERR_PMDANOTREADY", "PMDA is not yet ready to respond to requests";
    /// Functionality not yet implemented.
    NYI = -21344, "PM_ERR_NYI", "Functionality not yet implemented";
}

impl PmError {
    /// Wraps a raw PCP status code (negative). Positive or zero codes are
    /// not errors; they map to [`PmError::GENERIC`].
    pub const fn from_code(code: i32) -> PmError {
        if code < 0 {
            PmError(code)
        } else {
            PmError::GENERIC
        }
    }

    /// A negated `errno` value, as agents may return for system failures.
    pub const fn from_errno(errno: i32) -> PmError {
        PmError::from_code(-errno.abs())
    }

    /// The raw (negative) code.
    pub const fn code(self) -> i32 {
        self.0
    }
}

impl fmt::Display for PmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.pcp_text() {
            return f.write_str(text);
        }
        // A negated errno: describe it as the C library does.
        let err = std::io::Error::from_raw_os_error(-self.0);
        let s = err.to_string();
        // std appends " (os error N)"; pmErrStr does not.
        match s.rfind(" (os error") {
            Some(i) => f.write_str(&s[..i]),
            None => f.write_str(&s),
        }
    }
}

impl fmt::Debug for PmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.symbol() {
            Some(s) => write!(f, "{s}({})", self.0),
            None => write!(f, "PmError({})", self.0),
        }
    }
}

impl std::error::Error for PmError {}

impl From<std::io::Error> for PmError {
    fn from(e: std::io::Error) -> PmError {
        match e.raw_os_error() {
            Some(n) => PmError::from_errno(n),
            None => match e.kind() {
                std::io::ErrorKind::TimedOut => PmError::TIMEOUT,
                std::io::ErrorKind::NotFound => PmError::from_errno(libc::ENOENT),
                std::io::ErrorKind::PermissionDenied => PmError::from_errno(libc::EACCES),
                _ => PmError::GENERIC,
            },
        }
    }
}

/// A malformed or out-of-range identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Domains run from 0 to 510; 511 is PCP's reserved dynamic domain.
    #[error("domain {0} out of range: agents use domains 0..=510 (511 is reserved for dynamic namespace roots)")]
    Domain(u32),
    /// Clusters are 12 bits.
    #[error("cluster {0} out of range: the limit is 4095 clusters per domain")]
    Cluster(u32),
    /// Items are 10 bits.
    #[error("item {0} out of range: the limit is 1023 items per cluster")]
    Item(u32),
    /// InDom serials are 22 bits.
    #[error("instance-domain serial {0} out of range: the limit is 4194303")]
    Serial(u32),
    /// Text that is not `D.C.I` / `D.S`.
    #[error("cannot parse identifier {0:?}: expected domain.cluster.item or domain.serial")]
    Syntax(String),
}

/// A namespace edit that would make the tree inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    /// The name is not a dotted list of PCP name components.
    #[error("invalid metric name {0:?}: components must start with a letter and hold only letters, digits and '_'")]
    BadName(String),
    /// The name is already in the tree.
    #[error("duplicate metric name {0}")]
    Duplicate(String),
    /// A leaf would become an inner node, or the reverse.
    #[error("{0} would be both a leaf and a non-leaf node")]
    LeafConflict(String),
    /// The PMID is already used by another name in a way the caller forbade.
    #[error("PMID {pmid} of {name} is already used by {other}")]
    PmidInUse {
        /// The PMID.
        pmid: crate::Pmid,
        /// The new name.
        name: String,
        /// The name already holding it.
        other: String,
    },
}

/// A failure of the persistent id store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on a state file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the state directory.
    #[error("state directory {path} is in use by another process (lock file {lock} held{holder})")]
    Locked {
        /// The state directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// ", by pid N" when known.
        holder: String,
    },
    /// An id space is full.
    #[error("id space {cache:?} is full: the limit is {limit} ids")]
    Full {
        /// Which cache.
        cache: String,
        /// The limit that was hit.
        limit: u64,
    },
    /// An id asked for by number is outside the range or held by another name.
    #[error("id {id} of {cache:?} is taken or out of range")]
    Taken {
        /// Which cache.
        cache: String,
        /// The id.
        id: u32,
    },
    /// A cache name that cannot be a file name.
    #[error("invalid id cache name {0:?}: use letters, digits, '.', '-' and '_'")]
    BadCacheName(String),
}
