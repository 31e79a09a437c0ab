//! [`Pmapi`]: what a PCP client can ask of a context (names, descriptors,
//! instances, help text, labels, values), whoever answers. The in-process
//! [`Host`] answers from its agents; a [`crate::derive::DerivedHost`] puts
//! derived metrics on top of a host, as libpcp puts them on top of pmcd.
//! Consumers (renderers, `info`, `watch`, `serve`) take `&dyn Pmapi`, so
//! they see derived metrics like any other.

use std::time::Duration;

use crate::desc::Desc;
use crate::error::PmError;
use crate::host::{FetchResult, Host};
use crate::id::{InDom, Pmid};
use crate::indom::{Instance, Profile};
use crate::labels::LabelSet;
use crate::namespace::Child;
use crate::pmda::{LabelTarget, TextKind, TextTarget};
use crate::value::Value;

/// The questions a PMAPI client asks of a context. Every method has the
/// meaning of the [`Host`] method of the same name.
pub trait Pmapi: Send + Sync {
    /// The PMID of metric `name`.
    fn lookup(&self, name: &str) -> Result<Pmid, PmError>;
    /// The names of `pmid`.
    fn names_of(&self, pmid: Pmid) -> Result<Vec<String>, PmError>;
    /// The immediate children of `name` (`""` for the root).
    fn children(&self, name: &str) -> Result<Vec<Child>, PmError>;
    /// Every leaf at or below `name` (`""` for all), with its PMID.
    fn traverse(&self, name: &str) -> Result<Vec<(String, Pmid)>, PmError>;
    /// The descriptor of `pmid`.
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError>;
    /// The current instances of `indom`.
    fn instances(&self, indom: InDom) -> Result<Vec<Instance>, PmError>;
    /// Help text for a metric or an instance domain.
    fn text(&self, target: TextTarget, kind: TextKind) -> Result<String, PmError>;
    /// Labels at one level of the agent owning `domain`.
    fn labels(&self, domain: u32, target: LabelTarget) -> Result<LabelSet, PmError>;
    /// The merged labels of a metric, as pminfo -l shows them.
    fn metric_labels(&self, pmid: Pmid) -> Result<LabelSet, PmError>;
    /// The labels of each instance of `indom` (instance level only).
    fn instance_labels(&self, indom: InDom) -> Result<Vec<(u32, LabelSet)>, PmError>;
    /// The context-level labels.
    fn context_labels(&self) -> &LabelSet;
    /// Fetches `pmids`, keeping only the instances `profile` wants.
    fn fetch_with(&self, pmids: &[Pmid], profile: &Profile) -> FetchResult;
    /// Fetches `pmids` with every instance.
    fn fetch(&self, pmids: &[Pmid]) -> FetchResult {
        self.fetch_with(pmids, &Profile::all())
    }
    /// Stores values into a storable metric.
    fn store(&self, pmid: Pmid, values: &[(u32, Value)]) -> Result<(), PmError>;
    /// A counter that moves whenever names, labels or definitions change.
    fn metadata_generation(&self) -> u64;
    /// Waits (bounded) for just-started sources' first data.
    fn wait_ready(&self, timeout: Duration);
}

impl Pmapi for Host {
    fn lookup(&self, name: &str) -> Result<Pmid, PmError> {
        Host::lookup(self, name)
    }
    fn names_of(&self, pmid: Pmid) -> Result<Vec<String>, PmError> {
        Host::names_of(self, pmid)
    }
    fn children(&self, name: &str) -> Result<Vec<Child>, PmError> {
        Host::children(self, name)
    }
    fn traverse(&self, name: &str) -> Result<Vec<(String, Pmid)>, PmError> {
        Host::traverse(self, name)
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        Host::desc(self, pmid)
    }
    fn instances(&self, indom: InDom) -> Result<Vec<Instance>, PmError> {
        Host::instances(self, indom)
    }
    fn text(&self, target: TextTarget, kind: TextKind) -> Result<String, PmError> {
        Host::text(self, target, kind)
    }
    fn labels(&self, domain: u32, target: LabelTarget) -> Result<LabelSet, PmError> {
        Host::labels(self, domain, target)
    }
    fn metric_labels(&self, pmid: Pmid) -> Result<LabelSet, PmError> {
        Host::metric_labels(self, pmid)
    }
    fn instance_labels(&self, indom: InDom) -> Result<Vec<(u32, LabelSet)>, PmError> {
        Host::instance_labels(self, indom)
    }
    fn context_labels(&self) -> &LabelSet {
        Host::context_labels(self)
    }
    fn fetch_with(&self, pmids: &[Pmid], profile: &Profile) -> FetchResult {
        Host::fetch_with(self, pmids, profile)
    }
    fn store(&self, pmid: Pmid, values: &[(u32, Value)]) -> Result<(), PmError> {
        Host::store(self, pmid, values)
    }
    fn metadata_generation(&self) -> u64 {
        Host::metadata_generation(self)
    }
    fn wait_ready(&self, timeout: Duration) {
        Host::wait_ready(self, timeout)
    }
}
