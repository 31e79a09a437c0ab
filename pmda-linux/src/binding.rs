//! How each metric of pmdalinux's table is answered. A collector lists
//! its metrics as [`Binding`]s (a name, or a family of names, with the
//! sources it needs, the getter that puts its values into a sink, and its
//! help) and the instance domains it owns as [`IndomBinding`]s. When the
//! agent starts it matches every descriptor of the generated table
//! (`descs.rs`) to exactly one binding ([`match_binding`]); a fetch then
//! reads the sources the asked bindings need, once, and calls their
//! getters.
//!
//! A binding looks like this (from `swapdev.rs`):
//!
//! ```text
//! Binding::new("swapdev.length", &[SWAPS], |c, _, out| {
//!     c.swapdev.areas.put_u64(out, |a| Some(a.size));
//!     Ok(())
//! })
//! .help("physical swap size", "Size of each swap area in Kbytes, from /proc/swaps."),
//! ```

use pcp_core::agent::Sink;
use pcp_core::{Instance, LabelSet, PmError};

use crate::collectors::{Collectors, Id};

/// A source a metric needs read before its value is given: one of the
/// sources (files, or families of files) of one collector. Each
/// collector numbers its own sources; a fetch reads each needed source
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Need {
    /// The collector that reads it.
    pub(crate) collector: Id,
    /// The source's bit among the collector's sources.
    pub(crate) bit: u32,
}

impl Need {
    /// Source number `n` (0..32) of `collector`.
    pub(crate) const fn new(collector: Id, n: u32) -> Need {
        Need {
            collector,
            bit: 1 << n,
        }
    }
}

/// What a binding's getter is given: every collector (read-only, as
/// refreshed for this fetch), the metric's argument within its family
/// (0 for a binding of one metric), and the sink for its values.
pub(crate) type Get = fn(&Collectors, u32, &mut Sink<'_>) -> Result<(), PmError>;

/// How a binding finds its getter's argument when the agent starts: from
/// the rest of the name after a family's prefix, or from the key of a
/// binding of one metric (and the PMID's cluster); `None` for a name the
/// family does not serve. It may prepare the collectors (files of named
/// values assign a slot per key).
pub(crate) type Resolve = fn(&mut Collectors, &str, u32) -> Option<u32>;

/// Labels of each instance of an instance domain, from the collectors and
/// the current instance list.
pub(crate) type InstanceLabels = fn(&Collectors, &[Instance]) -> Vec<(u32, LabelSet)>;

/// Help text: written out, or made from the metric's name for a family.
#[derive(Clone, Copy)]
pub(crate) enum Help {
    /// One-line and long help.
    Text(&'static str, &'static str),
    /// One-line and long help made from the full metric name.
    Made(fn(&str) -> (String, String)),
}

/// One metric, or one family of metrics, of a collector.
#[derive(Clone, Copy)]
pub(crate) struct Binding {
    /// The metric's name, or for a family the prefix of its names.
    pub(crate) name: &'static str,
    /// True for a family of metrics (`name` is their prefix).
    pub(crate) family: bool,
    /// What `resolve` gets for a binding of one metric (a key of the
    /// file it reads, a file name).
    pub(crate) key: &'static str,
    /// How the getter's argument is found (none: 0).
    pub(crate) resolve: Option<Resolve>,
    /// Only descriptors of this cluster (for names pmdalinux uses in
    /// several clusters).
    pub(crate) cluster: Option<u32>,
    /// The sources to read first (their read errors fail the metric, in
    /// this order).
    pub(crate) needs: &'static [Need],
    /// Puts the values.
    pub(crate) get: Get,
    /// Help text.
    pub(crate) help: Help,
    /// Figures only a client with root's credentials may see (pmdalinux
    /// answers others with no values and does not read the files).
    pub(crate) root_only: bool,
    /// Item labels.
    pub(crate) labels: Option<fn() -> LabelSet>,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)?;
        if self.family {
            f.write_str("*")?;
        }
        Ok(())
    }
}

impl Binding {
    /// The metric `name`, which needs `needs` read, answered by `get`.
    pub(crate) const fn new(name: &'static str, needs: &'static [Need], get: Get) -> Binding {
        Binding {
            name,
            family: false,
            key: "",
            resolve: None,
            cluster: None,
            needs,
            get,
            help: Help::Text("", ""),
            root_only: false,
            labels: None,
        }
    }

    /// Every metric whose name starts with `prefix` and whose rest
    /// `resolve` accepts (more precise bindings win: one of the exact
    /// name, then the longest prefix).
    pub(crate) const fn family(
        prefix: &'static str,
        needs: &'static [Need],
        resolve: Resolve,
        get: Get,
    ) -> Binding {
        let mut b = Binding::new(prefix, needs, get);
        b.family = true;
        b.resolve = Some(resolve);
        b
    }

    /// Gives the getter `resolve(key)` as its argument (a slot, an index).
    pub(crate) const fn key(mut self, key: &'static str, resolve: Resolve) -> Binding {
        self.key = key;
        self.resolve = Some(resolve);
        self
    }

    /// One-line and long help.
    pub(crate) const fn help(mut self, oneline: &'static str, help: &'static str) -> Binding {
        self.help = Help::Text(oneline, help);
        self
    }

    /// Help made from each metric's name.
    pub(crate) const fn made_help(mut self, made: fn(&str) -> (String, String)) -> Binding {
        self.help = Help::Made(made);
        self
    }

    /// Serves only descriptors of `cluster`.
    pub(crate) const fn cluster(mut self, cluster: u32) -> Binding {
        self.cluster = Some(cluster);
        self
    }

    /// For root clients only.
    pub(crate) const fn root_only(mut self) -> Binding {
        self.root_only = true;
        self
    }

    /// Item labels.
    pub(crate) const fn labels(mut self, labels: fn() -> LabelSet) -> Binding {
        self.labels = Some(labels);
        self
    }
}

/// An instance domain a collector owns: its help, the sources its list
/// comes from, the list itself and its labels.
#[derive(Clone, Copy)]
pub(crate) struct IndomBinding {
    /// The serial (`descs::NAME.serial`).
    pub(crate) serial: u32,
    /// One-line help.
    pub(crate) oneline: &'static str,
    /// Long help.
    pub(crate) help: &'static str,
    /// The sources to read before listing.
    pub(crate) needs: &'static [Need],
    /// The instances, from the collectors as refreshed.
    pub(crate) list: fn(&Collectors) -> Vec<Instance>,
    /// `device_type` label values (none: no label).
    pub(crate) device_type: &'static [&'static str],
    /// `indom_name` label (empty: no label).
    pub(crate) indom_name: &'static str,
    /// Labels of each instance, given the current list.
    pub(crate) instance_labels: Option<InstanceLabels>,
    /// The list comes from a file only root may read: it is re-read for
    /// root clients only, others see it as last read.
    pub(crate) root_only: bool,
}

impl std::fmt::Debug for IndomBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "indom 60.{}", self.serial)
    }
}

impl IndomBinding {
    /// Instance domain `serial`, listed by `list` after `needs` are read.
    pub(crate) const fn new(
        serial: u32,
        needs: &'static [Need],
        list: fn(&Collectors) -> Vec<Instance>,
    ) -> IndomBinding {
        IndomBinding {
            serial,
            oneline: "",
            help: "",
            needs,
            list,
            device_type: &[],
            indom_name: "",
            instance_labels: None,
            root_only: false,
        }
    }

    /// One-line and long help.
    pub(crate) const fn help(mut self, oneline: &'static str, help: &'static str) -> IndomBinding {
        self.help = help;
        self.oneline = oneline;
        self
    }

    /// The instance domain labels pmdalinux attaches: what kind of device
    /// an instance is and what the instances are.
    pub(crate) const fn labels(
        mut self,
        device_type: &'static [&'static str],
        indom_name: &'static str,
    ) -> IndomBinding {
        self.device_type = device_type;
        self.indom_name = indom_name;
        self
    }

    /// Labels per instance.
    pub(crate) const fn instance_labels(mut self, f: InstanceLabels) -> IndomBinding {
        self.instance_labels = Some(f);
        self
    }

    /// Re-read for root clients only.
    pub(crate) const fn root_only(mut self) -> IndomBinding {
        self.root_only = true;
        self
    }

    /// The instance domain's labels.
    pub(crate) fn indom_labels(&self) -> LabelSet {
        let mut l = LabelSet::new();
        match self.device_type {
            [] => {}
            [one] => {
                l.insert("device_type", *one);
            }
            many => {
                l.insert("device_type", many.to_vec());
            }
        }
        if !self.indom_name.is_empty() {
            l.insert("indom_name", self.indom_name);
        }
        l
    }
}

/// The binding of the metric `name` of cluster `cluster` among
/// `bindings` (every collector's), and its argument: the binding of that
/// exact name if there is one, else the family with the longest prefix
/// that accepts the name. `None` when no binding serves it.
pub(crate) fn match_binding(
    bindings: &[(Id, &'static Binding)],
    collectors: &mut Collectors,
    name: &str,
    cluster: u32,
) -> Option<(Id, &'static Binding, u32)> {
    let fits = |b: &Binding| b.cluster.is_none_or(|c| c == cluster);
    if let Some((id, b)) = bindings
        .iter()
        .find(|(_, b)| !b.family && b.name == name && fits(b))
    {
        let arg = match b.resolve {
            Some(resolve) => resolve(collectors, b.key, cluster)?,
            None => 0,
        };
        return Some((*id, b, arg));
    }
    let mut families: Vec<&(Id, &'static Binding)> = bindings
        .iter()
        .filter(|(_, b)| b.family && name.starts_with(b.name) && fits(b))
        .collect();
    families.sort_by_key(|(_, b)| std::cmp::Reverse(b.name.len()));
    for (id, b) in families {
        let resolve = b.resolve?;
        if let Some(arg) = resolve(collectors, &name[b.name.len()..], cluster) {
            return Some((*id, b, arg));
        }
    }
    None
}
