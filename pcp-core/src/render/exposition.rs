//! Whole scrapes of a host (any [`Pmapi`]: agents, or agents with derived
//! metrics) as exposition text, with the metadata kept
//! between scrapes ([`ExpositionCache`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::desc::Semantics;
use crate::id::{InDom, Pmid};
use crate::labels::LabelSet;
use crate::pmapi::Pmapi;
use crate::pmda::{TextKind, TextTarget};
use crate::value::Value;

use super::names::{exposition_name, ExpositionName, NameMap};
use super::openmetrics::{FamilyText, Format, InstanceText};

/// Renders every metric of `metrics` (names and PMIDs) from one batch fetch
/// of `host` as Prometheus text, asking the agents for every descriptor,
/// label set, help text and instance list. [`ExpositionCache::render`]
/// gives the same text and keeps that metadata between calls.
pub fn render_host(host: &dyn Pmapi, metrics: &[(String, Pmid)]) -> String {
    ExpositionCache::new().render(host, metrics, Format::Prometheus)
}

/// How long cached metadata is trusted even when no agent reports a change.
const CACHE_MAX_AGE: Duration = Duration::from_secs(60);

/// Metadata and pre-rendered text kept between scrapes: the exposition
/// names of the whole namespace, per metric its metadata lines and
/// labelled sample prefix, per instance its label text.
///
/// Everything is dropped when the host's metadata generation moves (an
/// agent's names or labels changed) and at the latest after a minute. An
/// instance id that a fetch returns and the cache does not know makes its
/// instance domain be asked again; an instance id keeps its name for the
/// life of its domain (PCP's rule, which the persistent id store keeps),
/// so known ids need no new question.
#[derive(Debug)]
pub struct ExpositionCache {
    inner: Mutex<CacheState>,
}

/// Label text of each instance of one instance domain, by instance id,
/// and whether the agent listed the id (an unlisted id is asked about
/// again at the next scrape that returns it).
type InstanceTexts = HashMap<u32, (InstanceText, bool)>;

/// A family's cached text and its instance domain.
type CachedFamily = (Arc<FamilyText>, InDom);

/// What one metric of a scrape is written from: its family text and, for
/// a metric with instances, their label texts.
type Part = (Arc<FamilyText>, Option<Arc<InstanceTexts>>);

#[derive(Debug)]
struct CacheState {
    generation: u64,
    since: Instant,
    /// Exposition names of every numeric metric of the namespace, built
    /// at the first scrape after the cache was cleared.
    names: Option<Arc<NameMap>>,
    /// Whether `names` was built again for a name it lacked (once per
    /// cache lifetime).
    names_rebuilt: bool,
    /// Per PMID: the name it was rendered under, and its text and instance
    /// domain (`None`: not a numeric metric, nothing to show).
    families: HashMap<Pmid, (String, Option<CachedFamily>)>,
    /// Per instance domain: the label text of each instance.
    instances: HashMap<InDom, Arc<InstanceTexts>>,
}

impl Default for ExpositionCache {
    fn default() -> ExpositionCache {
        ExpositionCache::new()
    }
}

impl ExpositionCache {
    /// An empty cache.
    pub fn new() -> ExpositionCache {
        ExpositionCache {
            inner: Mutex::new(CacheState {
                generation: 0,
                since: Instant::now(),
                names: None,
                names_rebuilt: false,
                families: HashMap::new(),
                instances: HashMap::new(),
            }),
        }
    }

    /// Renders every metric of `metrics` (names and PMIDs) from one batch
    /// fetch of `host` in `format`. Names are those of the whole
    /// namespace's [`NameMap`], so a scrape of part of the namespace names
    /// each metric as a scrape of all of it does. The cache is locked only
    /// to look metadata up (and to ask agents for what it lacks); the text
    /// is written outside the lock.
    pub fn render(&self, host: &dyn Pmapi, metrics: &[(String, Pmid)], format: Format) -> String {
        let pmids: Vec<Pmid> = metrics.iter().map(|m| m.1).collect();
        let result = host.fetch(&pmids);
        let generation = host.metadata_generation();
        let mut parts: Vec<Option<Part>> = Vec::with_capacity(metrics.len());
        {
            let mut st = self.inner.lock();
            if st.generation != generation || st.since.elapsed() > CACHE_MAX_AGE {
                st.generation = generation;
                st.since = Instant::now();
                st.names = None;
                st.names_rebuilt = false;
                st.families.clear();
                st.instances.clear();
            }
            for ((name, pmid), (_, values)) in metrics.iter().zip(result.values.iter()) {
                let part = match values {
                    Ok(values) if !values.is_empty() => {
                        st.family(host, name, *pmid).map(|(text, indom)| {
                            let insts =
                                (!indom.is_null()).then(|| st.instance_texts(host, indom, values));
                            (text, insts)
                        })
                    }
                    _ => None,
                };
                parts.push(part);
            }
        }
        let mut out = String::with_capacity(metrics.len() * 256);
        for (part, (_, values)) in parts.iter().zip(result.values.iter()) {
            let (Some((text, insts)), Ok(values)) = (part, values) else {
                continue;
            };
            out.push_str(text.head(format));
            for (inst, value) in values {
                if !text.carries(format, value) {
                    continue;
                }
                let it = insts.as_ref().and_then(|m| m.get(inst)).map(|t| &t.0);
                text.push_sample(&mut out, it, value);
            }
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// The exposition names of every numeric metric `host` serves.
fn namespace_names(host: &dyn Pmapi) -> NameMap {
    let leaves = host.traverse("").unwrap_or_default();
    let kinds: Vec<(String, bool)> = leaves
        .into_iter()
        .filter_map(|(name, pmid)| {
            let desc = host.desc(pmid).ok()?;
            desc.ty
                .is_numeric()
                .then_some((name, desc.sem == Semantics::Counter))
        })
        .collect();
    NameMap::build(kinds.iter().map(|(n, c)| (n.as_str(), *c)))
}

impl CacheState {
    /// The exposition names of `name`: from the namespace's map (built
    /// now if the cache has none, and built again once per cache lifetime
    /// if the name is not in it: the namespace moved), else those of the
    /// name alone.
    fn names_of(&mut self, host: &dyn Pmapi, name: &str, counter: bool) -> ExpositionName {
        if let Some(n) = self.names.as_ref().and_then(|m| m.get(name)) {
            return n.clone();
        }
        if self.names.is_none() || !self.names_rebuilt {
            if self.names.is_some() {
                // Families named so far were named from the old map.
                self.names_rebuilt = true;
                self.families.clear();
            }
            let m = Arc::new(namespace_names(host));
            self.names = Some(Arc::clone(&m));
            if let Some(n) = m.get(name) {
                return n.clone();
            }
        }
        exposition_name(name, counter)
    }

    /// The family text of `pmid` under `name` and its instance domain,
    /// from the cache or built from the agent's metadata; `None` for a
    /// metric with nothing to show (not numeric, or no descriptor).
    fn family(&mut self, host: &dyn Pmapi, name: &str, pmid: Pmid) -> Option<CachedFamily> {
        if let Some((n, cached)) = self.families.get(&pmid) {
            if n == name {
                return cached.clone();
            }
        }
        let built = match host.desc(pmid).ok().filter(|d| d.ty.is_numeric()) {
            None => None,
            Some(desc) => {
                let names = self.names_of(host, name, desc.sem == Semantics::Counter);
                let labels = host.metric_labels(pmid).unwrap_or_default();
                let help = host.text(TextTarget::Metric(pmid), TextKind::OneLine).ok();
                Some((
                    Arc::new(FamilyText::new(
                        name,
                        &names,
                        &desc,
                        help.as_deref(),
                        &labels,
                    )),
                    desc.indom,
                ))
            }
        };
        self.families
            .insert(pmid, (name.to_string(), built.clone()));
        built
    }

    /// The label texts of `indom`'s instances, asked of the agent again
    /// when `values` holds an instance id the agent has not listed. Every
    /// id in `values` gets a text (an id the agent does not list gets its
    /// labels and `instid` without `instname`).
    fn instance_texts(
        &mut self,
        host: &dyn Pmapi,
        indom: InDom,
        values: &[(u32, Value)],
    ) -> Arc<InstanceTexts> {
        if let Some(known) = self.instances.get(&indom) {
            if values
                .iter()
                .all(|(i, _)| known.get(i).is_some_and(|t| t.1))
            {
                return Arc::clone(known);
            }
        }
        let insts = host.instances(indom).unwrap_or_default();
        let labels = host.instance_labels(indom).unwrap_or_default();
        let labels: HashMap<u32, &LabelSet> = labels.iter().map(|(i, l)| (*i, l)).collect();
        let mut map = InstanceTexts::with_capacity(insts.len());
        for i in &insts {
            let text = InstanceText::new(i.id, labels.get(&i.id).copied(), Some(&i.name));
            map.insert(i.id, (text, true));
        }
        for (id, _) in values {
            map.entry(*id)
                .or_insert_with(|| (InstanceText::new(*id, labels.get(id).copied(), None), false));
        }
        let map = Arc::new(map);
        self.instances.insert(indom, Arc::clone(&map));
        map
    }
}
