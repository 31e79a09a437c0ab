//! The exposition cache gives the same text as rendering from scratch,
//! asks agents for metadata once, and follows new instances and label
//! changes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pcp_core::agent::{Metrics, Spec};
use pcp_core::render::openmetrics::{render_host, ExpositionCache, Format};
use pcp_core::*;

const DOMAIN: u32 = 420;

/// What the test changes under the agent, and what it counts.
#[derive(Default)]
struct Shared {
    /// Instance names, id = position.
    instances: Mutex<Vec<String>>,
    /// The "colour" label of every instance.
    colour: Mutex<String>,
    labels_changed: AtomicBool,
    /// Fetch returns only listed ids.
    listed_all: AtomicBool,
    metadata_calls: AtomicUsize,
    /// Descriptor requests, counted apart: the host asks one per fetched
    /// metric to apply the answer rules.
    desc_calls: AtomicUsize,
}

struct Agent {
    table: Metrics<()>,
    indom: InDom,
    shared: Arc<Shared>,
}

impl Agent {
    fn new(shared: Arc<Shared>) -> Agent {
        let indom = InDom::new(DOMAIN, 1).unwrap();
        let mut table = Metrics::new(DOMAIN);
        let rows = [
            (
                "cache.load",
                0,
                InDom::NULL,
                Semantics::Instant,
                Type::Double,
            ),
            ("cache.bytes", 1, indom, Semantics::Counter, Type::U64),
            (
                "cache.name",
                2,
                InDom::NULL,
                Semantics::Discrete,
                Type::String,
            ),
        ];
        for (name, item, ind, sem, ty) in rows {
            let desc = Desc::new(
                Pmid::new(DOMAIN, 0, item).unwrap(),
                ty,
                ind,
                sem,
                Units::COUNT,
            );
            table.add(name, Spec::from(&desc), ()).unwrap().oneline =
                format!("help for {name}").into();
        }
        Agent {
            table,
            indom,
            shared,
        }
    }
}

impl Pmda for Agent {
    fn name(&self) -> &str {
        "cache"
    }
    fn domain(&self) -> u32 {
        DOMAIN
    }
    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.shared.desc_calls.fetch_add(1, Ordering::SeqCst);
        self.table.desc(pmid)
    }
    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        self.shared.metadata_calls.fetch_add(1, Ordering::SeqCst);
        self.table.text(target, kind)
    }
    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        self.shared.metadata_calls.fetch_add(1, Ordering::SeqCst);
        if indom != self.indom {
            return Err(PmError::INDOM);
        }
        Ok(self
            .shared
            .instances
            .lock()
            .iter()
            .enumerate()
            .map(|(i, n)| Instance::new(i as u32, n.clone()))
            .collect())
    }
    fn labels(&self, target: LabelTarget, _client: &ClientContext) -> Result<LabelSet, PmError> {
        Ok(match target {
            LabelTarget::Domain => LabelSet::new().with("agent", "cache"),
            LabelTarget::Item(p) if p.item() == 1 => LabelSet::new().with("odd", "a\"b"),
            _ => LabelSet::new(),
        })
    }
    fn instance_labels(
        &mut self,
        _indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let colour = self.shared.colour.lock().clone();
        let n = self.shared.instances.lock().len() as u32;
        Ok((0..n)
            .map(|i| (i, LabelSet::new().with("colour", colour.as_str())))
            .collect())
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        let n = self.shared.instances.lock().len() as u32;
        req.pmids
            .iter()
            .map(|p| match p.item() {
                0 => Ok(vec![(PM_IN_NULL, Value::Double(0.25))]),
                // One id past the listed instances: an id the agent's
                // instance list does not name.
                1 => {
                    let end = if self.shared.listed_all.load(Ordering::SeqCst) {
                        n
                    } else {
                        n + 1
                    };
                    Ok((0..end)
                        .map(|i| (i, Value::U64(u64::from(i) * 7)))
                        .collect())
                }
                2 => Ok(vec![(PM_IN_NULL, Value::String("x".into()))]),
                _ => Err(PmError::PMID),
            })
            .collect()
    }
    fn labels_changed(&mut self) -> bool {
        self.shared.labels_changed.swap(false, Ordering::SeqCst)
    }
}

#[test]
fn cached_text_equals_fresh_text_through_changes() {
    let shared = Arc::new(Shared::default());
    *shared.instances.lock() = vec!["sda".into(), "sdb".into()];
    *shared.colour.lock() = "red".into();
    let mut host = Host::new();
    host.load(Box::new(Agent::new(Arc::clone(&shared))))
        .unwrap();
    let metrics = host.traverse("cache").unwrap();
    let cache = ExpositionCache::new();

    let first = cache.render(&host, &metrics, Format::Prometheus);
    assert_eq!(first, render_host(&host, &metrics));
    assert!(
        first.contains("instname=\"sdb\",instid=\"1\"} 7\n"),
        "{first}"
    );
    // The id the agent does not list: no instname (and no instance labels).
    assert!(
        first.contains("odd=\"a\\\"b\",instid=\"2\"} 14\n"),
        "{first}"
    );
    assert!(first.contains("colour=\"red\""), "{first}");
    assert!(!first.contains("cache_name"), "{first}");

    // Again: the same text, and the only metadata question is for the
    // instance id the agent does not list (asked again each time).
    let before = shared.metadata_calls.load(Ordering::SeqCst);
    let descs_before = shared.desc_calls.load(Ordering::SeqCst);
    assert_eq!(cache.render(&host, &metrics, Format::Prometheus), first);
    assert_eq!(shared.metadata_calls.load(Ordering::SeqCst), before + 1);
    // Descriptors: only the host's, one per fetched metric for the answer
    // rules; the cache asks for none.
    assert_eq!(
        shared.desc_calls.load(Ordering::SeqCst),
        descs_before + metrics.len()
    );
    // Once the agent lists every id it returns, nothing is asked.
    shared.listed_all.store(true, Ordering::SeqCst);
    let all = cache.render(&host, &metrics, Format::Prometheus);
    let before = shared.metadata_calls.load(Ordering::SeqCst);
    assert_eq!(cache.render(&host, &metrics, Format::Prometheus), all);
    assert_eq!(shared.metadata_calls.load(Ordering::SeqCst), before);
    shared.listed_all.store(false, Ordering::SeqCst);

    // A new instance: its name appears at once.
    shared.instances.lock().push("sdc".into());
    let grown = cache.render(&host, &metrics, Format::Prometheus);
    assert!(
        grown.contains("instname=\"sdc\",instid=\"2\"} 14\n"),
        "{grown}"
    );
    assert_eq!(grown, render_host(&host, &metrics));

    // New labels, flagged by the agent: seen in the same scrape.
    *shared.colour.lock() = "blue".into();
    shared.labels_changed.store(true, Ordering::SeqCst);
    let relabelled = cache.render(&host, &metrics, Format::Prometheus);
    assert!(relabelled.contains("colour=\"blue\""), "{relabelled}");
    assert!(!relabelled.contains("colour=\"red\""), "{relabelled}");
    assert_eq!(relabelled, render_host(&host, &metrics));
}
