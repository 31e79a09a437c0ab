//! Continuous profiling on bpftrace, in the spirit of Grafana's
//! `pyroscope.ebpf`: stack samples of every process (or of chosen
//! targets) at a fixed rate, gathered every collect interval into one
//! profile per target group, symbolized, and written as pprof files,
//! kept for `pcp-agent serve` (pprof, folded stacks, flame graphs and
//! their diff) and pushed to Pyroscope. Off-CPU time per stack, from the
//! scheduler's `sched_switch` tracepoint, is a second profile type.
//!
//! ```text
//! bpftrace (script.rs: profile:hz:RATE, sched_switch)   runner.rs, parse.rs
//!   -> per interval: stack keys and counts
//!   -> targets.rs (pid, comm, cgroup, container -> group)
//!   -> symbolize.rs (/proc/PID/maps + ELF by blazesym, caches; demangle.rs)
//!   -> model.rs Profile (deduplicated functions, locations, mappings)
//!   -> pprof.rs (.pb.gz) -> output.rs (directory, rotated)
//!                        -> push.rs (Pyroscope /ingest, bounded queue)
//!   -> store.rs (recent intervals for serve) -> flame.rs (folded, SVG, diff)
//!   stats.rs: the counters the bpftrace agent exports
//! ```
//!
//! Start one with [`Profiler::start`]; it needs root (bpftrace does).
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

pub mod config;
pub mod demangle;
pub mod elf;
pub mod error;
pub mod flame;
pub mod lru;
pub mod model;
pub mod output;
pub mod parse;
pub mod pprof;
pub mod procinfo;
pub mod profiler;
pub mod push;
pub mod runner;
pub mod script;
pub mod stats;
pub mod store;
pub mod symbolize;
pub mod targets;

pub use config::{
    hostname, parse_duration, CacheSizes, Demangle, ProfilerConfig, PushConfig, TargetMatch,
    TargetSpec,
};
pub use error::ProfileError;
pub use model::{Profile, ProfileKind};
pub use profiler::Profiler;
pub use stats::{ProfilerStats, StatsSnapshot, TargetStats};
pub use store::{Filter, ProfileStore, Summary};
