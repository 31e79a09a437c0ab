//! The agent: its names, made from the configured sources and the results
//! seen so far, and its values, read from the shared store.
//!
//! For a plugin check `NAME` (singular metrics):
//! `nagios.NAME.{state,state_text,output,exec_time,latency,age,results}`
//! and per perfdata label `nagios.NAME.perf.LABEL.{value,warn_low,
//! warn_high,crit_low,crit_high,min,max}` (the parts it ever had). For a
//! perfdata file source `SRC`, the same per service,
//! `nagios.SRC.SERVICE.*`, with the hosts as instances (one instance domain
//! per service). Control metrics: `nagios.control.*`, per source.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use pcp_core::agent::{Agent, Metrics, Sink, Spec};
use pcp_core::namespace::sanitize_component;
use pcp_core::{ClientContext, InDom, Instance, LabelSet, LabelTarget, PmError, Semantics, Type};

use crate::config::Source;
use crate::engine::{Engine, Shared};
use crate::handles::{
    dotted, item_key, part_help, Control, Field, Handle, CONTROL, CONTROL_INDOM, FIELDS,
};
use crate::ids::Ids;
use crate::perfdata::Uom;
use crate::store::{Part, PerfKey, SeriesKey, HOST_SERVICE};
use crate::template::state_name;
use crate::units::units_of;

/// The Nagios agent.
#[derive(Debug)]
pub struct Nagios {
    _engine: Engine,
    shared: Arc<Shared>,
    root: String,
    ids: Ids,
    built: Option<(u64, Vec<String>)>,
    series: HashMap<u32, SeriesKey>,
    labels: HashMap<(u32, u32), PerfKey>,
    labels_seen: u64,
}

impl Nagios {
    pub(crate) fn new(engine: Engine, root: String, ids: Ids) -> Nagios {
        let shared = Arc::clone(engine.shared());
        Nagios {
            _engine: engine,
            shared,
            root,
            ids,
            built: None,
            series: HashMap::new(),
            labels: HashMap::new(),
            labels_seen: 0,
        }
    }

    /// The shared state (for tests and the host's diagnostics).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Adds the control metrics to `table`.
    pub(crate) fn add_control(&self, table: &mut Metrics<Handle>) {
        table.set_indom_text(CONTROL_INDOM, "Sources of the Nagios agent", "");
        for &(c, item, leaf, ty, sem, units, per_source, help) in CONTROL {
            let spec = Spec {
                cluster: 0,
                item,
                ty,
                sem,
                units,
                indom: per_source.then_some(CONTROL_INDOM),
            };
            let name = format!("{}.control.{leaf}", self.root);
            if let Ok(row) = table.add(name, spec, Handle::Control(c)) {
                row.oneline = help.into();
            }
        }
    }

    fn rebuild(&mut self, table: &mut Metrics<Handle>) {
        table.retain(|r| matches!(r.metric, Handle::Control(_)));
        self.series.clear();
        self.labels.clear();
        let shared = Arc::clone(&self.shared);
        let store = shared.store.lock();
        let mut keys: Vec<SeriesKey> = store.series.keys().cloned().collect();
        for s in self.shared.sources.read().iter() {
            if let Source::Check(c) = s {
                keys.push(SeriesKey {
                    source: c.name.clone(),
                    service: None,
                    host_checks: false,
                });
            }
        }
        keys.sort();
        keys.dedup();
        let mut with_ids: Vec<(u32, SeriesKey)> = keys
            .into_iter()
            .filter_map(|k| Some((self.ids.cluster(&k)?, k)))
            .collect();
        with_ids.sort();
        let mut prefixes: HashSet<String> = HashSet::from([format!("{}.control", self.root)]);
        for (cluster, key) in with_ids {
            let mut prefix = format!("{}.{}", self.root, dotted(&key.source));
            if let Some(s) = &key.service {
                prefix = format!("{prefix}.{}", sanitize_component(s));
            }
            if !prefixes.insert(prefix.clone()) {
                prefix = format!("{prefix}_{cluster}");
                prefixes.insert(prefix.clone());
            }
            let indom = key.service.is_some().then_some(cluster);
            if let Some(serial) = indom {
                let what = match (&key.service, key.host_checks) {
                    (_, true) => "the host checks".to_string(),
                    (Some(s), false) => s.clone(),
                    (None, false) => HOST_SERVICE.to_string(),
                };
                table.set_indom_text(serial, format!("Hosts of {} in {}", what, key.source), "");
            }
            for (i, &(field, leaf, ty, sem, units, help)) in FIELDS.iter().enumerate() {
                let spec = Spec {
                    cluster,
                    item: i as u32,
                    ty,
                    sem,
                    units,
                    indom,
                };
                if let Ok(row) = table.add(
                    format!("{prefix}.{leaf}"),
                    spec,
                    Handle::Field { cluster, field },
                ) {
                    row.oneline = help.into();
                }
            }
            if let Some(series) = store.series.get(&key) {
                self.add_perf(table, &prefix, cluster, indom, &series.perf);
            }
            self.series.insert(cluster, key);
        }
        self.ids.save();
    }

    fn add_perf(
        &mut self,
        table: &mut Metrics<Handle>,
        prefix: &str,
        cluster: u32,
        indom: Option<u32>,
        perf: &BTreeMap<PerfKey, crate::store::PerfInfo>,
    ) {
        let mut taken: HashSet<String> = HashSet::new();
        let mut in_order: Vec<(&PerfKey, &crate::store::PerfInfo)> = perf.iter().collect();
        in_order.sort_by_key(|(_, info)| info.order);
        let mut labels: Vec<(u32, &PerfKey, &crate::store::PerfInfo)> = in_order
            .into_iter()
            .filter_map(|(k, info)| {
                Some((self.ids.item(cluster, &item_key(k, Part::Value))?, k, info))
            })
            .collect();
        labels.sort_by_key(|(i, _, _)| *i);
        for (value_item, key, info) in labels {
            let mut base = format!("{prefix}.perf");
            if let Some(child) = &key.child {
                base = format!("{base}.{}", sanitize_component(child));
            }
            base = format!("{base}.{}", sanitize_component(&key.label));
            if !taken.insert(base.clone()) {
                base = format!("{base}_{value_item}");
                taken.insert(base.clone());
            }
            self.labels.insert((cluster, value_item), key.clone());
            let (units, sem) = units_of(Uom::from_text(&info.uom));
            for part in Part::ALL {
                if info.parts & (1 << part as u8) == 0 {
                    continue;
                }
                let Some(item) = self.ids.item(cluster, &item_key(key, part)) else {
                    continue;
                };
                let spec = Spec {
                    cluster,
                    item,
                    ty: Type::Double,
                    sem: if part == Part::Value {
                        sem
                    } else {
                        Semantics::Instant
                    },
                    units,
                    indom,
                };
                let handle = Handle::Perf {
                    cluster,
                    label: value_item,
                    part,
                };
                if let Ok(row) = table.add(format!("{base}.{}", part.name()), spec, handle) {
                    row.oneline =
                        format!("{} of perfdata label '{}'", part_help(part), key.label).into();
                    row.labels.insert("label", key.label.as_str());
                    if !info.uom.is_empty() {
                        row.labels.insert("uom", info.uom.as_str());
                    }
                }
            }
        }
    }

    fn threshold_labels(v: &crate::store::PerfValue) -> LabelSet {
        let mut l = LabelSet::new();
        if let Some(w) = v.warn {
            l.insert("warn", w.to_string());
        }
        if let Some(c) = v.crit {
            l.insert("crit", c.to_string());
        }
        if let Some(m) = v.min {
            l.insert("min", m.to_string());
        }
        if let Some(m) = v.max {
            l.insert("max", m.to_string());
        }
        l
    }
}

fn age(when: Option<SystemTime>) -> Option<f64> {
    Some(
        SystemTime::now()
            .duration_since(when?)
            .map_or(0.0, |d| d.as_secs_f64()),
    )
}

impl Agent for Nagios {
    type Metric = Handle;

    fn value(&mut self, m: Handle, out: &mut Sink<'_>) -> Result<(), PmError> {
        let store = self.shared.store.lock();
        match m {
            Handle::Control(c) => {
                match c {
                    Control::Sources => out.set(self.shared.sources.read().len() as u32),
                    Control::ConfigErrors => out.set(self.shared.config_errors.lock().len() as u32),
                    Control::Running => out.set(
                        self.shared
                            .running
                            .load(std::sync::atomic::Ordering::Acquire),
                    ),
                    _ => {
                        for (name, st) in &store.stats {
                            let Some(id) = self.ids.source(name) else {
                                continue;
                            };
                            match c {
                                Control::Calls => out.put(id, st.calls),
                                Control::Errors => out.put(id, st.errors),
                                Control::Timeouts => out.put(id, st.timeouts),
                                Control::ParseErrors => out.put(id, st.parse_errors),
                                Control::Bytes => out.put(id, st.bytes),
                                Control::Results => out.put(id, st.results),
                                Control::Rotations => out.put(id, st.rotations),
                                Control::Dropped => out.put(id, st.dropped),
                                _ => out.put(id, st.last_error.as_str()),
                            }
                        }
                    }
                }
                return Ok(());
            }
            Handle::Field { cluster, field } => {
                let key = self.series.get(&cluster).ok_or(PmError::PMID)?;
                let Some(series) = store.series.get(key) else {
                    return Ok(());
                };
                for (host, r) in &series.hosts {
                    let inst = if key.service.is_none() {
                        pcp_core::PM_IN_NULL
                    } else {
                        match self.ids.host(cluster, host) {
                            Some(i) => i,
                            None => continue,
                        }
                    };
                    if !out.wants(inst) {
                        continue;
                    }
                    let put = |out: &mut Sink<'_>, v: pcp_core::Value| {
                        if inst == pcp_core::PM_IN_NULL {
                            out.set(v)
                        } else {
                            out.put(inst, v)
                        }
                    };
                    match field {
                        Field::State => {
                            if let Some(s) = r.state {
                                put(out, s.into())
                            }
                        }
                        Field::StateText => {
                            if let Some(s) = r.state {
                                put(out, state_name(s).into())
                            }
                        }
                        Field::Output => put(out, r.output.as_str().into()),
                        Field::ExecTime => {
                            if let Some(t) = r.exec_time {
                                put(out, t.into())
                            }
                        }
                        Field::Latency => {
                            if let Some(t) = r.latency {
                                put(out, t.into())
                            }
                        }
                        Field::Age => {
                            if let Some(a) = age(r.when) {
                                put(out, a.into())
                            }
                        }
                        Field::Results => put(out, r.results.into()),
                    }
                }
            }
            Handle::Perf {
                cluster,
                label,
                part,
            } => {
                let key = self.series.get(&cluster).ok_or(PmError::PMID)?;
                let pk = self.labels.get(&(cluster, label)).ok_or(PmError::PMID)?;
                let Some(series) = store.series.get(key) else {
                    return Ok(());
                };
                for (host, r) in &series.hosts {
                    let Some(v) = r.perf.get(pk).and_then(|v| v.part(part)) else {
                        continue;
                    };
                    if key.service.is_none() {
                        out.set(v);
                    } else if let Some(i) = self.ids.host(cluster, host) {
                        out.put(i, v);
                    }
                }
            }
        }
        Ok(())
    }

    fn instances(&mut self, indom: InDom, _: &ClientContext) -> Result<Vec<Instance>, PmError> {
        let serial = indom.serial();
        if serial == CONTROL_INDOM {
            let names: Vec<String> = self
                .shared
                .sources
                .read()
                .iter()
                .map(|s| s.name().to_string())
                .collect();
            let v = names
                .iter()
                .filter_map(|n| Some(Instance::new(self.ids.source(n)?, n.clone())))
                .collect();
            self.ids.save();
            return Ok(v);
        }
        let key = self.series.get(&serial).cloned().ok_or(PmError::INDOM)?;
        let hosts: Vec<String> = self
            .shared
            .store
            .lock()
            .series
            .get(&key)
            .map(|s| s.hosts.keys().cloned().collect())
            .unwrap_or_default();
        let v = hosts
            .into_iter()
            .filter_map(|h| Some(Instance::new(self.ids.host(serial, &h)?, h)))
            .collect();
        self.ids.save();
        Ok(v)
    }

    fn labels(&self, target: LabelTarget, _: &ClientContext) -> LabelSet {
        let LabelTarget::Item(pmid) = target else {
            return LabelSet::new();
        };
        let (cluster, item) = (pmid.cluster(), pmid.item());
        let Some(key) = self.series.get(&cluster) else {
            return LabelSet::new();
        };
        if key.service.is_some() {
            return LabelSet::new();
        }
        let store = self.shared.store.lock();
        self.labels
            .iter()
            .filter(|((c, i), _)| *c == cluster && *i == item)
            .find_map(|(_, pk)| {
                let r = store.series.get(key)?.hosts.get("")?;
                Some(Self::threshold_labels(r.perf.get(pk)?))
            })
            .unwrap_or_default()
    }

    fn refresh_names(&mut self, table: &mut Metrics<Handle>) -> bool {
        let generation = self.shared.store.lock().names_generation;
        let sources: Vec<String> = self
            .shared
            .sources
            .read()
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        let now = Some((generation, sources));
        if self.built == now {
            return false;
        }
        self.rebuild(table);
        self.built = now;
        true
    }

    fn wait_ready(&mut self, timeout: std::time::Duration) {
        self.wait_for_first_results(timeout);
    }

    fn labels_changed(&mut self) -> bool {
        let g = self.shared.store.lock().labels_generation;
        std::mem::replace(&mut self.labels_seen, g) != g
    }
}
