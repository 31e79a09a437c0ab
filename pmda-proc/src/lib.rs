//! `pmda-proc`: per-process, hot-process and control-group metrics with
//! pmdaproc 6.0.3's names, PMIDs, types, semantics, units and instances
//! (domain 3), read cheaply: `/proc` is listed once per fetch (not at all
//! when the client's profile names its processes), each process's files
//! are read only for the metrics asked, once, as the client (so the
//! kernel decides what each user sees, as with pmdaproc).
//!
//! ```no_run
//! use pcp_core::Host;
//! use pmda_proc::{proc_pmda, ProcConfig};
//!
//! let mut host = Host::new();
//! host.load(Box::new(proc_pmda(ProcConfig::default()).unwrap())).unwrap();
//! let utime = host.lookup("proc.psinfo.utime").unwrap();
//! println!("{:?}", host.fetch(&[utime]).values[0].1);
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod access;
pub mod acct;
pub mod agent;
pub mod cgroups;
pub mod descs;
pub mod hotproc;
pub mod load;
pub mod names;
pub mod pidtab;
pub mod procfs;
pub mod psvalues;
pub mod runq;
pub mod small;
pub mod stat;
pub mod status;

use std::path::PathBuf;

use pcp_core::agent::{Metrics, TablePmda};

pub use agent::{Handle, ProcAgent, Settings};

/// pmdaproc's domain.
pub const DOMAIN: u32 = 3;

/// The top-level names the agent serves (pmdaproc's).
pub const TOP_LEVEL: [&str; 4] = ["acct", "cgroup", "hotproc", "proc"];

/// Where and how the agent reads.
#[derive(Debug, Clone)]
pub struct ProcConfig {
    /// A directory holding `proc/` and `sys/` (default `/`), like
    /// pmdaproc's `PROC_STATSPATH`.
    pub root: PathBuf,
    /// The agent's domain.
    pub domain: u32,
    /// pmdaproc's `-A`: no per-client access checks.
    pub all_access: bool,
    /// Threads in the process instance domain for every client.
    pub threads: bool,
    /// The hot-process predicate file (pmdaproc's `hotproc.conf`).
    pub hotproc_config: PathBuf,
    /// The system's process accounting file (PCP's
    /// `PCP_PACCT_SYSTEM_PATH`), below `root`.
    pub pacct: String,
    /// The file the agent turns process accounting on into when a client
    /// stores 1 into `acct.control.enable_acct` (pmdaproc's
    /// `$PCP_VAR_DIR/pmcd/pacct`), below `root`. The kernel stops writing
    /// when its file system has less than 4% free.
    pub pacct_own: String,
    /// Clock ticks per second of the machine the tree comes from
    /// (pmdaproc's `PROC_HERTZ`); this machine's when `None`.
    pub hertz: Option<u64>,
}

impl Default for ProcConfig {
    fn default() -> ProcConfig {
        ProcConfig {
            root: PathBuf::from("/"),
            domain: DOMAIN,
            all_access: false,
            threads: false,
            hotproc_config: PathBuf::from("/var/lib/pcp/pmdas/proc/hotproc.conf"),
            hertz: None,
            pacct: "/var/account/pacct".into(),
            pacct_own: "/var/lib/pcp/pmcd/pacct".into(),
        }
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// `ROOT/proc` could not be opened.
    #[error("{path}: {source}")]
    Proc {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The metric table is inconsistent.
    #[error("metric table: {0}")]
    Table(#[from] pcp_core::NamespaceError),
}

/// The proc agent as a PMDA.
pub type ProcPmda = TablePmda<ProcAgent>;

/// Builds the agent.
pub fn proc_pmda(config: ProcConfig) -> Result<ProcPmda, ProcError> {
    let dir = procfs::ProcDir::open(&config.root).map_err(|source| ProcError::Proc {
        path: config.root.join("proc"),
        source,
    })?;
    let hot =
        hotproc::HotProc::start(&config.root, config.hotproc_config.clone()).map_err(|source| {
            ProcError::Proc {
                path: config.root.join("proc"),
                source,
            }
        })?;
    let agent = ProcAgent::new(
        dir,
        config.domain,
        Settings {
            all_access: config.all_access,
            threads: config.threads,
            hertz: config.hertz,
        },
        hot,
        acct::Acct::new(
            config.root.join(config.pacct.trim_start_matches('/')),
            config.root.join(config.pacct_own.trim_start_matches('/')),
            config.hertz.unwrap_or_else(|| {
                // SAFETY: sysconf has no preconditions.
                unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64
            }),
        ),
    );
    let mut table = Metrics::new(config.domain);
    for def in descs::METRICS {
        if let Some(h) = Handle::of(def) {
            table.add_def(def, h)?;
        }
    }
    Ok(TablePmda::with_table("proc", agent, table))
}
