//! The `pcp-agent` package: the host binary's building blocks, usable from
//! examples and tests.
//!
//! - [`agents`]: the global agent options and building a [`pcp_core::Host`]
//!   from them;
//! - [`simple`]: the `simple` example agent (domain 253);
//! - [`watch`]: the pmval/pmrep-like live view;
//! - [`pmcd`]: running an agent under PCP's pmcd, and installing it there;
//! - [`serve`]: the HTTP server;
//! - [`push`]: Prometheus remote-write.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod agents;
pub mod pmcd;
pub mod push;
pub mod serve;
pub mod simple;
pub mod watch;
