//! The Performance Co-Pilot data model and agent framework, in Rust.
//!
//! - identifiers ([`Pmid`], [`InDom`]) with PCP's bit layouts;
//! - descriptors ([`Desc`]: [`Type`], [`Semantics`], [`Units`]) and [`Value`]s;
//! - [`LabelSet`]s, help text, and the metric namespace ([`Namespace`]);
//! - persistent ids that survive restarts ([`idstore`]);
//! - the low-level [`Pmda`] trait, which the table-driven layer ([`agent`])
//!   implements for agents;
//! - the in-process [`Host`] that loads agents by domain and fans fetches out;
//! - rate conversion ([`rate`]) and renderers ([`render`]): pminfo-style
//!   text, OpenMetrics exposition and JSON.
//!
//! - [`agent`]: the table-driven layer agents are written on (a
//!   [`metrics!`] table, an [`agent::Agent`] with `refresh`/`value`, and
//!   [`agent::TablePmda`] doing the plumbing), [`answer`]: the rules of a
//!   correct answer, and [`testing::check_agent`]: the conformance walker.
//!
//! A small agent, loaded into a host:
//!
//! ```
//! use pcp_core::agent::{Agent, MetricDef, Sink, TablePmda};
//! use pcp_core::*;
//!
//! pcp_core::metrics! {
//!     enum M { Answer = MetricDef::u32("hello.answer", 0, 0).oneline("the answer") }
//! }
//! #[derive(Debug)]
//! struct Hello;
//! impl Agent for Hello {
//!     type Metric = M;
//!     fn value(&mut self, _: M, out: &mut Sink<'_>) -> Result<(), PmError> {
//!         out.set(42u32);
//!         Ok(())
//!     }
//! }
//!
//! let mut host = Host::new();
//! host.load(Box::new(TablePmda::new("hello", 400, Hello).unwrap())).unwrap();
//! let result = host.fetch(&[host.lookup("hello.answer").unwrap()]);
//! assert_eq!(result.values[0].1, Ok(vec![(PM_IN_NULL, Value::U32(42))]));
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod agent;
pub mod answer;
pub mod at_domain;
mod check;
pub mod container;
pub mod daemon;
pub mod derive;
pub mod desc;
pub mod error;
pub mod host;
pub mod id;
pub mod idstore;
pub mod indom;
pub mod labels;
pub mod namespace;
pub mod pdu;
pub mod pipe;
pub mod pmapi;
pub mod pmda;
pub mod pytable;
pub mod rate;
pub mod render;
pub mod server;
pub mod testing;
pub mod units;
pub mod value;

pub use at_domain::AtDomain;
pub use desc::{Desc, Semantics, Type, Units};
pub use error::{IdError, NamespaceError, PmError, StoreError};
pub use host::{FetchResult, Host, HostError};
pub use id::{InDom, Pmid, PM_IN_NULL};
pub use idstore::{CacheSnapshot, FileFormat, IdCache, StateDir};
pub use indom::{Instance, Profile};
pub use labels::{LabelLevel, LabelSet};
pub use namespace::Namespace;
pub use pmapi::Pmapi;
pub use pmda::{
    Attachment, ClientContext, FetchRequest, InstValues, LabelTarget, MetricResult, Pmda, TextKind,
    TextTarget,
};
pub use value::Value;
