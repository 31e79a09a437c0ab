//! Metric and instance-domain definitions that fit in a `const` table:
//! one [`MetricDef`] per metric, read like a sentence
//! (`MetricDef::u64("disk.dev.read", 0, 4).counter().units(Units::COUNT)`),
//! and one [`IndomDef`] per instance domain.

use crate::desc::{Semantics, Type, Units};

/// One metric of a table: name, cluster and item (the domain is the
/// agent's, given when it is loaded), type, semantics, units, instance
/// domain and help text. Built with `const` constructors so a whole table
/// is a `const` array or a [`crate::metrics!`] enum.
///
/// ```
/// use pcp_core::agent::{IndomDef, MetricDef};
/// use pcp_core::desc::{space, time};
/// use pcp_core::{Semantics, Type, Units};
///
/// const DISKS: IndomDef = IndomDef::new(1, "Block devices");
/// const READ_BYTES: MetricDef = MetricDef::u64("demo.disk.read_bytes", 0, 1)
///     .counter()
///     .units(Units::space(space::KBYTE))
///     .indom(&DISKS)
///     .oneline("Kbytes read from each disk");
/// const RATE: MetricDef = MetricDef::double("demo.net.rate", 1, 0)
///     .units(Units::BYTES.per_time(time::SEC));
///
/// assert_eq!(READ_BYTES.ty, Type::U64);
/// assert_eq!(READ_BYTES.sem, Semantics::Counter);
/// assert_eq!(READ_BYTES.units.to_string(), "Kbyte");
/// assert_eq!(RATE.units.to_string(), "byte / sec");
/// assert_eq!(READ_BYTES.indom.map(|i| i.serial), Some(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// Full dotted name.
    pub name: &'static str,
    /// Cluster number (0..=4095): the unit of refresh, as in PCP.
    pub cluster: u32,
    /// Item number within the cluster (0..=1023).
    pub item: u32,
    /// Data type.
    pub ty: Type,
    /// Semantics (instant unless set).
    pub sem: Semantics,
    /// Units (none unless set).
    pub units: Units,
    /// Instance domain, or `None` for a singular metric.
    pub indom: Option<&'static IndomDef>,
    /// One-line help.
    pub oneline: &'static str,
    /// Long help (empty: the one-line text serves).
    pub help: &'static str,
    /// Whether clients may store into it (pmstore).
    pub storable: bool,
}

macro_rules! typed_constructors {
    ($($(#[$doc:meta])* $fn:ident => $ty:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub const fn $fn(name: &'static str, cluster: u32, item: u32) -> MetricDef {
                MetricDef::new(name, cluster, item, Type::$ty)
            }
        )*
    };
}

impl MetricDef {
    /// A singular, instant, dimensionless metric of type `ty` without help.
    pub const fn new(name: &'static str, cluster: u32, item: u32, ty: Type) -> MetricDef {
        MetricDef {
            name,
            cluster,
            item,
            ty,
            sem: Semantics::Instant,
            units: Units::NONE,
            indom: None,
            oneline: "",
            help: "",
            storable: false,
        }
    }

    typed_constructors! {
        /// A signed 32-bit metric (`PM_TYPE_32`).
        i32 => I32,
        /// An unsigned 32-bit metric (`PM_TYPE_U32`).
        u32 => U32,
        /// A signed 64-bit metric (`PM_TYPE_64`).
        i64 => I64,
        /// An unsigned 64-bit metric (`PM_TYPE_U64`).
        u64 => U64,
        /// A 32-bit floating-point metric (`PM_TYPE_FLOAT`).
        float => Float,
        /// A 64-bit floating-point metric (`PM_TYPE_DOUBLE`).
        double => Double,
        /// A string metric (`PM_TYPE_STRING`).
        string => String,
        /// An opaque binary metric (`PM_TYPE_AGGREGATE`).
        aggregate => Aggregate,
    }

    /// Counter semantics: a value that only grows (clients show rates).
    pub const fn counter(self) -> MetricDef {
        self.semantics(Semantics::Counter)
    }

    /// Discrete semantics: a value that rarely changes (hardware, versions).
    pub const fn discrete(self) -> MetricDef {
        self.semantics(Semantics::Discrete)
    }

    /// Sets the semantics.
    pub const fn semantics(mut self, sem: Semantics) -> MetricDef {
        self.sem = sem;
        self
    }

    /// Sets the units.
    pub const fn units(mut self, units: Units) -> MetricDef {
        self.units = units;
        self
    }

    /// Puts the metric on an instance domain (one value per instance).
    pub const fn indom(mut self, indom: &'static IndomDef) -> MetricDef {
        self.indom = Some(indom);
        self
    }

    /// Sets the one-line help (`pminfo -t`).
    pub const fn oneline(mut self, text: &'static str) -> MetricDef {
        self.oneline = text;
        self
    }

    /// Sets the long help (`pminfo -T`).
    pub const fn help(mut self, text: &'static str) -> MetricDef {
        self.help = text;
        self
    }

    /// Lets clients store into the metric; the agent's
    /// [`crate::agent::Agent::store`] receives the values.
    pub const fn storable(mut self) -> MetricDef {
        self.storable = true;
        self
    }
}

/// An instance domain of a table: its serial (the domain is the agent's),
/// help text, and for a fixed domain its instances. An agent whose
/// instances change answers [`crate::agent::Agent::instances`] instead.
///
/// ```
/// use pcp_core::agent::IndomDef;
/// const COLOURS: IndomDef = IndomDef::new(0, "Three colours")
///     .instances(&[(0, "red"), (1, "green"), (2, "blue")]);
/// assert_eq!(COLOURS.instances.len(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndomDef {
    /// Serial number within the agent's domain.
    pub serial: u32,
    /// One-line help.
    pub oneline: &'static str,
    /// Long help (empty: the one-line text serves).
    pub help: &'static str,
    /// A fixed instance list (id, name); empty when the agent lists them.
    pub instances: &'static [(u32, &'static str)],
}

impl IndomDef {
    /// An instance domain with one-line help and no fixed instances.
    pub const fn new(serial: u32, oneline: &'static str) -> IndomDef {
        IndomDef {
            serial,
            oneline,
            help: "",
            instances: &[],
        }
    }

    /// Sets the long help.
    pub const fn help(mut self, text: &'static str) -> IndomDef {
        self.help = text;
        self
    }

    /// Fixes the instance list.
    pub const fn instances(mut self, list: &'static [(u32, &'static str)]) -> IndomDef {
        self.instances = list;
        self
    }
}

/// A set of metrics declared as an enum by [`crate::metrics!`]: each
/// variant is a metric, and [`MetricSet::defs`] gives its definition.
pub trait MetricSet: Copy + Send + std::fmt::Debug + 'static {
    /// Every metric with its definition, in declaration order.
    fn defs() -> &'static [(Self, MetricDef)];
}

/// Declares an agent's metrics as an enum, one variant per metric, each
/// with its [`MetricDef`]. The enum is the agent's handle type: its
/// `value` matches on variants, never on `(cluster, item)` pairs.
///
/// ```
/// use pcp_core::agent::{IndomDef, MetricDef, MetricSet};
/// use pcp_core::Units;
///
/// const CPUS: IndomDef = IndomDef::new(0, "CPUs");
/// pcp_core::metrics! {
///     /// The demo agent's metrics.
///     pub enum Demo {
///         /// Load average.
///         Load = MetricDef::float("demo.load", 0, 0).oneline("1-minute load average"),
///         /// Busy time per CPU.
///         Busy = MetricDef::u64("demo.busy", 0, 1).counter().units(Units::MILLISEC).indom(&CPUS),
///     }
/// }
/// assert_eq!(Demo::defs().len(), 2);
/// assert_eq!(Demo::defs()[1].0, Demo::Busy);
/// assert_eq!(Demo::defs()[1].1.name, "demo.busy");
/// ```
#[macro_export]
macro_rules! metrics {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $def:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),*
        }

        impl $crate::agent::MetricSet for $name {
            fn defs() -> &'static [($name, $crate::agent::MetricDef)] {
                const DEFS: &[($name, $crate::agent::MetricDef)] =
                    &[ $( ($name::$variant, $def) ),* ];
                DEFS
            }
        }
    };
}
