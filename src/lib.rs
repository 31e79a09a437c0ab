//! The `pcp-agent` package: the host binary's building blocks, usable from
//! examples and tests.
//!
//! - [`agents`]: the global agent options and building a [`pcp_core::Host`]
//!   from them;
//! - [`derived`]: loading derived metric definitions for the clients;
//! - [`simple`]: the `simple` example agent (domain 253);
//! - [`watch`]: the pmval/pmrep-like live view;
//! - [`pmcd`]: running an agent under PCP's pmcd, and installing it there;
//! - [`pmcd_server`]: `pcp-agent pmcd`, the host served to PCP's clients;
//! - [`serve`]: the HTTP server;
//! - [`push`]: Prometheus remote-write;
//! - [`profile`]: `pcp-agent profile` and the profiler's options.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod agents;
pub mod derived;
pub mod pmcd;
pub mod pmcd_server;
pub mod profile;
pub mod push;
pub mod serve;
pub mod simple;
pub mod watch;
