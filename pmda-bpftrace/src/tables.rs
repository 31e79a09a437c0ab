//! The agent's metric tables: the fixed control and info metrics, the
//! metrics every script has (a template repeated per script cluster), and
//! how the whole table is built from the registered scripts, their data
//! metrics and the profiler's cluster.
//!
//! pmdabpftrace's namespace lists children newest first (the reverse of
//! the order it adds metrics: control, info, then each script's
//! status..data_bytes and its data in item order), and pminfo walks it in
//! that order; the table is filled in reverse so ours lists the same way.

use std::sync::Arc;

use pcp_core::agent::{IndomDef, MetricDef, MetricSet, Metrics, Spec};
use pcp_core::Units;

use crate::process::log;
use crate::profiler::ProfilerMetric;
use crate::script::Script;
use crate::DOMAIN;

/// Cluster of `bpftrace.control.*`.
pub(crate) const CONTROL: u32 = 0;
/// Cluster of `bpftrace.info.*` (labelled `metrictype: control`).
pub(crate) const INFO: u32 = 1;

/// Instances of `bpftrace.info.scripts`: the registered scripts.
pub const SCRIPTS: IndomDef = IndomDef::new(0, "registered bpftrace scripts");

pcp_core::metrics! {
    /// The control and info metrics, with pmdabpftrace's PMIDs and help.
    /// Storing into a control metric runs the command; fetching it gives
    /// the JSON result of the client's last command of that kind.
    pub enum Fixed {
        /// Store code to register (and start) a script.
        Register = MetricDef::string("bpftrace.control.register", CONTROL, 0)
            .storable()
            .oneline("register a new bpftrace script"),
        /// Store names or ids (comma-separated) to deregister scripts.
        Deregister = MetricDef::string("bpftrace.control.deregister", CONTROL, 1)
            .storable()
            .oneline("deregister a bpftrace script"),
        /// Store a name or id to start a stopped script.
        Start = MetricDef::string("bpftrace.control.start", CONTROL, 2)
            .storable()
            .oneline("start a stopped bpftrace script"),
        /// Store a name or id to stop a running script.
        Stop = MetricDef::string("bpftrace.control.stop", CONTROL, 3)
            .storable()
            .oneline("stop a running bpftrace script"),
        /// The code of each script, per script name.
        Scripts = MetricDef::string("bpftrace.info.scripts", INFO, 0)
            .indom(&SCRIPTS)
            .oneline("list all registered bpftrace scripts"),
        /// Every script as pmdabpftrace's JSON.
        ScriptsJson = MetricDef::string("bpftrace.info.scripts_json", INFO, 1)
            .oneline("expose all scripts in JSON format"),
        /// `bpftrace -l`, sorted, comma-separated.
        Tracepoints = MetricDef::string("bpftrace.info.tracepoints", INFO, 2)
            .oneline("list all available tracepoints"),
    }
}

impl Fixed {
    /// The control command a storable metric runs, as its result slot.
    pub(crate) fn command(self) -> Option<usize> {
        match self {
            Fixed::Register => Some(0),
            Fixed::Deregister => Some(1),
            Fixed::Start => Some(2),
            Fixed::Stop => Some(3),
            _ => None,
        }
    }
}

pcp_core::metrics! {
    /// The metrics of every script, `bpftrace.scripts.NAME.LEAF` in the
    /// script's cluster: a template whose names are the leaves. Descriptors
    /// and help are pmdabpftrace's (its `pid` and `data_bytes` are `U32`: a
    /// stopped script's pid has no value, and the byte count wraps as a
    /// 32-bit counter).
    pub enum ScriptItem {
        /// Starting, started, stopped or error.
        Status = MetricDef::string("status", 0, 0).oneline("status of bpftrace script"),
        /// The running bpftrace's pid (no value when none runs).
        Pid = MetricDef::u32("pid", 0, 1).oneline("pid of bpftrace process"),
        /// bpftrace's exit code.
        ExitCode = MetricDef::i32("exit_code", 0, 2).oneline("exit code of bpftrace process"),
        /// What bpftrace wrote to stderr (bounded).
        Error = MetricDef::string("error", 0, 3).oneline("errors of the bpftrace script"),
        /// Probes bpftrace attached.
        Probes = MetricDef::u32("probes", 0, 4).oneline("number of attached probes"),
        /// The script's code.
        Code = MetricDef::string("code", 0, 5).oneline("bpftrace script"),
        /// Bytes read from bpftrace.
        DataBytes = MetricDef::u32("data_bytes", 0, 6)
            .counter()
            .units(Units::BYTES)
            .oneline("count of bytes read from bpftrace script"),
    }
}

/// The agent's handle for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handle {
    /// A control or info metric.
    Fixed(Fixed),
    /// One of the profiler's metrics (cluster 2).
    Profiler(ProfilerMetric),
    /// A metric every script has.
    Script {
        /// The script's cluster.
        cluster: u32,
        /// Which.
        item: ScriptItem,
    },
    /// A metric of a script's maps or output.
    Data {
        /// The script's cluster.
        cluster: u32,
        /// Its item in the cluster.
        item: u32,
    },
}

/// The whole table: the scripts' metrics (in cluster order, each script's
/// items then its data), the profiler's when it runs, control and info,
/// added newest first. A name or PMID that cannot be added is logged and
/// left out.
pub(crate) fn build(profiler: bool, scripts: &[Arc<Script>]) -> Metrics<Handle> {
    let mut t = Metrics::new(DOMAIN);
    for s in scripts.iter().rev() {
        add_data(&mut t, s);
        for (item, def) in ScriptItem::defs().iter().rev() {
            let name = format!("bpftrace.scripts.{}.{}", s.name, def.name);
            let handle = Handle::Script {
                cluster: s.cluster,
                item: *item,
            };
            if let Err(e) = t.add_def_at(name.clone(), s.cluster, def, handle) {
                log(&format!("metric {name}: {e}"));
            }
        }
    }
    let fixed = Fixed::defs().iter().map(|(m, d)| (Handle::Fixed(*m), d));
    let profiler_defs = ProfilerMetric::defs()
        .iter()
        .filter(|_| profiler)
        .map(|(m, d)| (Handle::Profiler(*m), d));
    let all: Vec<(Handle, &MetricDef)> = fixed.chain(profiler_defs).collect();
    for (handle, def) in all.into_iter().rev() {
        if let Err(e) = t.add_def(def, handle) {
            log(&format!("metric {}: {e}", def.name));
        }
    }
    t
}

/// A script's data metrics (newest first), with their help, `metrictype`
/// labels and instance domains' help.
fn add_data(t: &mut Metrics<Handle>, s: &Script) {
    let st = s.state.lock();
    let data = &st.data;
    for (suffix, pmid) in data.names().into_iter().rev() {
        let name = format!("bpftrace.scripts.{}.{suffix}", s.name);
        let Some((desc, help, metrictype)) = data.desc(pmid.item()) else {
            continue;
        };
        let spec = Spec {
            cluster: s.cluster,
            item: pmid.item(),
            ty: desc.ty,
            sem: desc.sem,
            units: desc.units,
            indom: (!desc.indom.is_null()).then(|| desc.indom.serial()),
        };
        let handle = Handle::Data {
            cluster: s.cluster,
            item: pmid.item(),
        };
        match t.add(name.clone(), spec, handle) {
            Ok(row) => {
                row.oneline = help.into();
                if let Some(mt) = metrictype {
                    row.labels.insert("metrictype", mt);
                }
            }
            Err(e) => log(&format!("metric {name}: {e}")),
        }
    }
    for d in data.defs() {
        if let Some(desc) = data.metric_desc(d.item) {
            if !desc.indom.is_null() {
                let text = format!("keys (or buckets) of the bpftrace map {}", d.name);
                t.set_indom_text(desc.indom.serial(), text, "");
            }
        }
    }
}
