//! `pmda-linux`: a drop-in for PCP's pmdalinux (domain 60), serving
//! kernel, CPU, memory, disk, network and filesystem metrics from `/proc`
//! and `/sys` with pmdalinux's names, PMIDs, types, semantics, units,
//! instance domains and instance names.
//!
//! The agent is written on `pcp_core::agent`'s table-driven layer and
//! made of *collectors*, one module per family of metrics ([`cpu`],
//! [`memory`], [`disk`], [`swapdev`], ...; [`collector_names`] lists them
//! in refresh order, `src/collectors.rs` registers them). Each collector
//! owns its files and their parsers (pure functions of the file's bytes,
//! tested beside them), its state with the instance ids of its rows
//! ([`rows::Rows`]), its *bindings* (a metric's name, the sources it
//! needs, the getter of its values, its help) and the instance domains it
//! lists. The descriptors (names, PMIDs, types,
//! units) are pmdalinux's, generated into `descs.rs` from a capture of
//! PCP's own agent; each is matched to its binding when the agent starts.
//!
//! A fetch reads each source its metrics need once (a source that
//! cannot be read fails only the metrics behind it, with `-errno`; a
//! file that does not parse fails them with `PM_ERR_VALUE` and is
//! reported, see [`Linux::source_errors`]), then asks each metric's
//! getter. Every path is under a configurable root
//! ([`LinuxConfig::root`]), like pmdalinux's `LINUX_STATSPATH`, so the
//! agent runs on fixture trees. Collectors can be switched off by name
//! ([`LinuxConfig::disable`]).
//!
//! ```no_run
//! use pcp_core::Host;
//! use pmda_linux::LinuxConfig;
//!
//! let mut host = Host::new();
//! host.load(Box::new(pmda_linux::new(LinuxConfig::default()).unwrap())).unwrap();
//! let load = host.lookup("kernel.all.load").unwrap();
//! let result = host.fetch(&[load]);
//! println!("{:?}", result.values[0].1);
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod agent;
mod binding;
mod collectors;
pub mod descs;
mod namespace;
mod read;
pub mod rows;
mod sysfiles;
mod system;
mod value;

pub mod keyed;
pub mod parse;

pub mod cpu;
pub mod disk;
pub mod filesys;
pub mod interrupts;
pub mod ipc;
pub mod kernel;
pub mod memory;
pub mod multipath;
pub mod netdev;
pub mod netproto;
pub mod nfs;
pub mod numa;
pub mod pressure;
pub mod scsi;
pub mod slab;
pub mod sockets;
pub mod softnet;
pub mod swapdev;
pub mod tty;
pub mod vfs;
pub mod vmstat;
pub mod zones;
pub mod zram;

use std::path::PathBuf;

use pcp_core::agent::TablePmda;
use pcp_core::NamespaceError;

pub use agent::{Handle, Linux};

/// pmdalinux's domain number.
pub const DOMAIN: u32 = 60;

/// The PCP release whose pmdalinux this agent stands in for (the value of
/// `pmda.version`).
pub const PCP_VERSION: &str = "6.0.3";

/// The Linux agent as a [`pcp_core::Pmda`].
pub type LinuxPmda = TablePmda<Linux>;

/// Builds the Linux agent for `config`. Fails if the root is not a
/// directory, a collector to disable does not exist, or the metric table
/// is inconsistent.
pub fn new(config: LinuxConfig) -> Result<LinuxPmda, LinuxError> {
    Linux::pmda(config)
}

/// The collectors' names, in refresh order (what
/// [`LinuxConfig::disable`] takes).
pub fn collector_names() -> Vec<&'static str> {
    collectors::Id::ALL.iter().map(|c| c.name()).collect()
}

/// Where the agent reads from, and what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxConfig {
    /// A directory holding `proc/` and `sys/` (default `/`). With any other
    /// root, filesystem figures come from `ROOT/statfs` (see [`filesys`]),
    /// `uname -m` from `ROOT/proc/sys/kernel/arch`, IPC owner names from
    /// `ROOT/etc/passwd` and md device health from `ROOT/sbin/mdadm`.
    pub root: PathBuf,
    /// Collectors switched off, by name (see [`collector_names`]): their
    /// metrics are not served. A collector still reads its files when an
    /// enabled collector's metric needs them.
    pub disable: Vec<String>,
}

impl Default for LinuxConfig {
    fn default() -> LinuxConfig {
        LinuxConfig {
            root: PathBuf::from("/"),
            disable: Vec::new(),
        }
    }
}

/// Failures of the Linux agent.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// The metric table is inconsistent (a duplicate name or PMID).
    #[error("metric table: {0}")]
    Table(#[from] NamespaceError),
    /// A metric in the table has no binding in any collector.
    #[error("metric {0} has no binding")]
    Unmapped(String),
    /// A collector to disable that does not exist.
    #[error("no collector {name:?}; the collectors are {}", collector_names().join(", "))]
    UnknownCollector {
        /// The name given.
        name: String,
    },
    /// The root directory does not exist.
    #[error("root {0} is not a directory")]
    Root(PathBuf),
    /// A file's contents surprised the parser.
    #[error("{path}: unexpected format: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}
