//! The table-driven agent layer: this library's `pmdaInit`/`pmdaFetch`.
//!
//! An agent declares its metrics in a table ([`metrics!`](crate::metrics)
//! or [`MetricDef`] rows) and implements [`Agent`]: `refresh` once per
//! fetch for what was asked, `value` per metric into a [`Sink`], and
//! optionally instances, labels and store. [`TablePmda`] turns it into a
//! [`crate::Pmda`]: names, descriptors, help and default labels come from
//! the table; fetch resolves PMIDs, calls `refresh` once, asks each value
//! and applies the rules of a correct answer ([`crate::answer`]). The
//! domain is given when the agent is built, so one agent runs at any
//! domain (`pmcd.conf`'s `-d`).
//!
//! A whole agent:
//!
//! ```
//! use pcp_core::agent::{Agent, Fetch, IndomDef, MetricDef, Sink, TablePmda};
//! use pcp_core::*;
//!
//! const COLOURS: IndomDef = IndomDef::new(0, "Colours").instances(&[(0, "red"), (1, "blue")]);
//! pcp_core::metrics! {
//!     enum M {
//!         Fetches = MetricDef::u32("demo.fetches", 0, 0).oneline("Fetches answered"),
//!         Colour = MetricDef::i32("demo.colour", 0, 1).indom(&COLOURS).oneline("Colours"),
//!     }
//! }
//!
//! #[derive(Debug, Default)]
//! struct Demo { fetches: u32 }
//!
//! impl Agent for Demo {
//!     type Metric = M;
//!     fn refresh(&mut self, _: &Fetch<'_, M>) { self.fetches += 1; }
//!     fn value(&mut self, m: M, out: &mut Sink<'_>) -> Result<(), PmError> {
//!         match m {
//!             M::Fetches => out.set(self.fetches),
//!             M::Colour => { out.put(0, 10); out.put(1, 20) }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut host = Host::new();
//! host.load(Box::new(TablePmda::new("demo", 400, Demo::default()).unwrap())).unwrap();
//! let colour = host.lookup("demo.colour").unwrap();
//! let r = host.fetch(&[colour]);
//! assert_eq!(r.values[0].1, Ok(vec![(0, Value::I32(10)), (1, Value::I32(20))]));
//! ```

mod def;
mod pmda;
mod sink;
mod table;

pub use def::{IndomDef, MetricDef, MetricSet};
pub use pmda::TablePmda;
pub use sink::{Fetch, Sink};
pub use table::{IndomInfo, Metrics, Row, Spec, Text};

use crate::desc::Type;
use crate::error::PmError;
use crate::id::InDom;
use crate::indom::Instance;
use crate::labels::LabelSet;
use crate::pmda::{ClientContext, LabelTarget};
use crate::value::Value;

/// A table-driven agent. Only [`Agent::value`] is required; everything
/// else has the behaviour of a read-only agent with a fixed table.
pub trait Agent: Send + 'static {
    /// The agent's handle for one metric: an enum from
    /// [`metrics!`](crate::metrics), or any small key for agents whose
    /// metrics are made at run time.
    type Metric: Copy + Send + std::fmt::Debug + 'static;

    /// Brings the agent's data up to date for one fetch, before any value
    /// is asked: read each source the asked metrics need, once. Sources
    /// that fail should make [`Agent::value`] return the error for the
    /// metrics behind them only.
    fn refresh(&mut self, fetch: &Fetch<'_, Self::Metric>) {
        let _ = fetch;
    }

    /// Puts the current value(s) of `metric` into `out`. An error fails
    /// this metric only; no values (and `Ok`) means "no values now".
    fn value(&mut self, metric: Self::Metric, out: &mut Sink<'_>) -> Result<(), PmError>;

    /// The instances of an instance domain whose [`crate::agent::IndomDef`]
    /// lists none, as `client` may see them.
    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        let _ = (indom, client);
        Err(PmError::INDOM)
    }

    /// Labels the agent adds at a level, merged over the table's own
    /// (`{"agent":NAME}` for the domain, a row's item labels).
    fn labels(&self, target: LabelTarget, client: &ClientContext) -> LabelSet {
        let _ = (target, client);
        LabelSet::new()
    }

    /// Labels of each instance of `indom` that has any.
    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let _ = (indom, client);
        Ok(Vec::new())
    }

    /// Turns a value a client stores into `metric` into `ty`, the
    /// descriptor's type, before [`Agent::store`] sees it; an error fails
    /// the store. The default is [`Value::convert`] (its `PM_ERR_SIGN`,
    /// `PM_ERR_TRUNC` or `PM_ERR_CONV` for a value that does not fit); an
    /// agent that reads stored values its own way (any number, refused as
    /// `PM_ERR_BADSTORE` when it does not suit) overrides it.
    fn store_value(&self, metric: Self::Metric, value: &Value, ty: Type) -> Result<Value, PmError> {
        let _ = metric;
        value.convert(ty)
    }

    /// Stores `value` (already of the descriptor's type) into instance
    /// `inst` (`PM_IN_NULL` for a singular metric) of a metric its row marks
    /// storable; called once per value of the request, in order.
    fn store(
        &mut self,
        metric: Self::Metric,
        inst: u32,
        value: &Value,
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let _ = (metric, inst, value, client);
        Err(PmError::PERMISSION)
    }

    /// For agents whose names come from outside: re-read where they come
    /// from (a config directory, a registry of scripts). Called when the
    /// host asks for names ([`crate::Pmda::refresh_namespace`]), before
    /// [`Agent::refresh_names`], but not before fetches and stores: the
    /// place for slow work (scanning a directory, waiting for a new
    /// source's first answer) that must not lengthen a fetch.
    fn refresh_sources(&mut self) {}

    /// For agents whose names come from outside: bring `table` up to date
    /// and return true if its names changed. Called before name
    /// operations, before each fetch and after each store, so keep it cheap
    /// when nothing changed (compare a generation number or a modification
    /// time).
    fn refresh_names(&mut self, table: &mut Metrics<Self::Metric>) -> bool {
        let _ = table;
        false
    }

    /// True once after the agent's labels changed.
    fn labels_changed(&mut self) -> bool {
        false
    }

    /// A client went away: drop what was kept for its slot.
    fn client_closed(&mut self, slot: u32) {
        let _ = slot;
    }

    /// Waits (at most `timeout`) for a just-started source's first data.
    fn wait_ready(&mut self, timeout: std::time::Duration) {
        let _ = timeout;
    }
}
