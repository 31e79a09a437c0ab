//! The bpftrace agent (domain 151): runs bpftrace scripts and exports their
//! maps as metrics, with the metric tree, PMIDs, control protocol and
//! configuration of PCP's pmdabpftrace (6.0.3), which grafana-pcp depends on.
//!
//! ```text
//! bpftrace.control.{register,deregister,start,stop}   151.0.{0..3}  store code / names; fetch the JSON result
//! bpftrace.info.{scripts,scripts_json,tracepoints}     151.1.{0..2}
//! bpftrace.scripts.NAME.{status,pid,exit_code,error,probes,code,data_bytes}  151.C.{0..6}
//! bpftrace.scripts.NAME.data.VAR                       151.C.{10..}
//! bpftrace.scripts.NAME.folded.VAR                     folded stacks of a stack map (not in the reference)
//! ```
//!
//! Where it differs from the reference (see `README.md` in this crate):
//! maps are discovered from what bpftrace prints (no regex over the code);
//! keyed histograms, `stats()`, signed and string values are exported
//! faithfully; maps that become empty lose their instances; output and
//! error text are bounded; limits on scripts, code size and per-user
//! scripts; named scripts keep their cluster and items across restarts;
//! bpftrace runs in its own process group and dies with the agent.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod agent;
pub mod code;
pub mod config;
pub mod data;
pub mod error;
pub mod event;
mod ids;
pub mod process;
pub mod profiler;
pub mod pyjson;
mod register;
pub mod script;
mod startup;
pub mod tables;

use std::collections::BTreeMap;

use pcp_core::agent::TablePmda;

pub use agent::Bpftrace;
pub use config::{BpftraceConfig, Settings};
pub use error::BpftraceError;
pub use startup::{bpftrace_pmda, parse_version};

/// The agent's domain, as pmdabpftrace's.
pub const DOMAIN: u32 = 151;

/// The bpftrace agent as a PMDA: [`Bpftrace`] on pcp-core's table layer.
/// Start one with [`bpftrace_pmda`].
pub type BpftracePmda = TablePmda<Bpftrace>;

/// Scripts currently registered: name, status and pid (for tests and tools).
pub fn script_summary(agent: &BpftracePmda) -> BTreeMap<String, (String, i32)> {
    agent
        .agent()
        .reg
        .scripts
        .lock()
        .values()
        .map(|s| {
            let st = s.state.lock();
            (s.name.clone(), (st.status.as_str().to_string(), st.pid))
        })
        .collect()
}
