//! The Performance Co-Pilot data model and agent framework, in Rust.
//!
//! - identifiers ([`Pmid`], [`InDom`]) with PCP's bit layouts;
//! - descriptors ([`Desc`]: [`Type`], [`Semantics`], [`Units`]) and [`Value`]s;
//! - [`LabelSet`]s, help text, and the metric namespace ([`Namespace`]);
//! - persistent ids that survive restarts ([`idstore`]);
//! - the [`Pmda`] trait that agents implement, with [`MetricTable`] for
//!   table-driven agents;
//! - the in-process [`Host`] that loads agents by domain and fans fetches out;
//! - rate conversion ([`rate`]) and renderers ([`render`]): pminfo-style
//!   text, OpenMetrics exposition and JSON.
//!
//! A small agent:
//!
//! ```
//! use pcp_core::*;
//!
//! struct Hello { table: MetricTable }
//!
//! impl Pmda for Hello {
//!     fn name(&self) -> &str { "hello" }
//!     fn domain(&self) -> u32 { 400 }
//!     fn namespace(&self) -> &Namespace { self.table.namespace() }
//!     fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> { self.table.desc(pmid) }
//!     fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
//!         req.pmids.iter().map(|_| Ok(vec![(PM_IN_NULL, Value::U32(42))])).collect()
//!     }
//! }
//!
//! let mut table = MetricTable::new(400);
//! let pmid = Pmid::new(400, 0, 0).unwrap();
//! table.add("hello.answer", Desc::new(pmid, Type::U32, InDom::NULL, Semantics::Instant, Units::NONE),
//!           "the answer", "").unwrap();
//! let mut host = Host::new();
//! host.load(Box::new(Hello { table })).unwrap();
//! let result = host.fetch(&[host.lookup("hello.answer").unwrap()]);
//! assert_eq!(result.values[0].1, Ok(vec![(PM_IN_NULL, Value::U32(42))]));
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod daemon;
pub mod desc;
pub mod error;
pub mod host;
pub mod id;
pub mod idstore;
pub mod indom;
pub mod labels;
pub mod namespace;
pub mod pdu;
pub mod pmda;
pub mod rate;
pub mod render;
pub mod server;
pub mod table;
pub mod testing;
pub mod value;

pub use desc::{Desc, Semantics, Type, Units};
pub use error::{IdError, NamespaceError, PmError, StoreError};
pub use host::{FetchResult, Host, HostError};
pub use id::{InDom, Pmid, PM_IN_NULL};
pub use idstore::{IdCache, StateDir};
pub use indom::{Instance, Profile};
pub use labels::{LabelLevel, LabelSet};
pub use namespace::Namespace;
pub use pmda::{
    ClientContext, FetchRequest, InstValues, LabelTarget, MetricResult, Pmda, TextKind, TextTarget,
};
pub use table::{MetricInfo, MetricRow, MetricTable};
pub use value::Value;
