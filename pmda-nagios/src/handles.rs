//! What each metric of the agent is: the control metrics, a check's own
//! metrics, and the parts of a perfdata label, with their names, types,
//! units and help; and how a perfdata part is keyed in the id caches.

use pcp_core::namespace::sanitize_component;
use pcp_core::{Semantics, Type, Units};

use crate::store::{Part, PerfKey};

/// The agent's control metrics (cluster 0; per source unless noted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Plugin runs or file polls.
    Calls,
    /// Runs that could not start, reads that failed.
    Errors,
    /// Runs killed at their timeout.
    Timeouts,
    /// Perfdata items or lines that did not parse.
    ParseErrors,
    /// Bytes read.
    Bytes,
    /// Results recorded.
    Results,
    /// File rotations followed.
    Rotations,
    /// Results, hosts or labels dropped at the limits.
    Dropped,
    /// The latest error.
    LastError,
    /// Sources configured (singular).
    Sources,
    /// Configuration files refused (singular).
    ConfigErrors,
    /// Plugins running now (singular).
    Running,
}

pub(crate) type ControlRow = (
    Control,
    u32,
    &'static str,
    Type,
    Semantics,
    Units,
    bool,
    &'static str,
);

pub(crate) const CONTROL: &[ControlRow] = &[
    (
        Control::Calls,
        0,
        "calls",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        true,
        "Plugin runs, or perfdata file polls that read data",
    ),
    (
        Control::Errors,
        1,
        "errors",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        true,
        "Plugin runs that could not start",
    ),
    (
        Control::Timeouts,
        2,
        "timeouts",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        true,
        "Plugin runs killed at their timeout",
    ),
    (
        Control::ParseErrors,
        3,
        "parse_errors",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        true,
        "Perfdata items or perfdata file lines that did not parse",
    ),
    (
        Control::Bytes,
        4,
        "bytes",
        Type::U64,
        Semantics::Counter,
        Units::BYTES,
        true,
        "Bytes of plugin output or perfdata file read",
    ),
    (
        Control::Results,
        5,
        "results",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        true,
        "Check results recorded",
    ),
    (
        Control::Rotations,
        6,
        "rotations",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        true,
        "Perfdata file rotations followed",
    ),
    (
        Control::Dropped,
        7,
        "dropped",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        true,
        "Results, hosts or perfdata labels dropped at the agent's limits",
    ),
    (
        Control::LastError,
        8,
        "last_error",
        Type::String,
        Semantics::Instant,
        Units::NONE,
        true,
        "The latest error of the source",
    ),
    (
        Control::Sources,
        10,
        "sources",
        Type::U32,
        Semantics::Instant,
        Units::COUNT,
        false,
        "Sources configured",
    ),
    (
        Control::ConfigErrors,
        11,
        "config_errors",
        Type::U32,
        Semantics::Instant,
        Units::COUNT,
        false,
        "Configuration files refused",
    ),
    (
        Control::Running,
        12,
        "running",
        Type::U32,
        Semantics::Instant,
        Units::COUNT,
        false,
        "Plugins running now",
    ),
];

/// A check's own metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    State,
    /// The state's name.
    StateText,
    /// The status text.
    Output,
    /// Execution time.
    ExecTime,
    /// Scheduling latency.
    Latency,
    /// Seconds since the result.
    Age,
    /// Results recorded.
    Results,
}

pub(crate) type FieldRow = (Field, &'static str, Type, Semantics, Units, &'static str);

pub(crate) const FIELDS: &[FieldRow] = &[
    (
        Field::State,
        "state",
        Type::U32,
        Semantics::Instant,
        Units::NONE,
        "Check state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (hosts: 0 UP, 2 DOWN, 3 UNREACHABLE)",
    ),
    (
        Field::StateText,
        "state_text",
        Type::String,
        Semantics::Instant,
        Units::NONE,
        "Check state as text (OK, WARNING, CRITICAL, UNKNOWN)",
    ),
    (
        Field::Output,
        "output",
        Type::String,
        Semantics::Instant,
        Units::NONE,
        "Status text of the latest result",
    ),
    (
        Field::ExecTime,
        "exec_time",
        Type::Double,
        Semantics::Instant,
        Units::SEC,
        "Execution time of the latest check",
    ),
    (
        Field::Latency,
        "latency",
        Type::Double,
        Semantics::Instant,
        Units::SEC,
        "How late the latest check started",
    ),
    (
        Field::Age,
        "age",
        Type::Double,
        Semantics::Instant,
        Units::SEC,
        "Seconds since the latest result",
    ),
    (
        Field::Results,
        "results",
        Type::U64,
        Semantics::Counter,
        Units::COUNT,
        "Results recorded",
    ),
];

/// What one metric of the agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handle {
    /// A control metric.
    Control(Control),
    /// A check's own metric, in the series of `cluster`.
    Field {
        /// The series' cluster.
        cluster: u32,
        /// Which.
        field: Field,
    },
    /// A part of a perfdata label, in the series of `cluster`.
    Perf {
        /// The series' cluster.
        cluster: u32,
        /// The label's first item (its value's).
        label: u32,
        /// Which part.
        part: Part,
    },
}

pub(crate) const CONTROL_INDOM: u32 = 0;
pub(crate) fn part_help(part: Part) -> &'static str {
    match part {
        Part::Value => "Value",
        Part::WarnLow => "Low end of the warning range",
        Part::WarnHigh => "High end of the warning range",
        Part::CritLow => "Low end of the critical range",
        Part::CritHigh => "High end of the critical range",
        Part::Min => "Minimum",
        Part::Max => "Maximum",
    }
}

pub(crate) fn item_key(k: &PerfKey, part: Part) -> String {
    format!(
        "{}/{}:{}",
        k.child.as_deref().unwrap_or(""),
        k.label,
        part.name()
    )
}

pub(crate) fn dotted(name: &str) -> String {
    name.split('.')
        .map(sanitize_component)
        .collect::<Vec<_>>()
        .join(".")
}
