//! A registered script: its identity, code, lifecycle state and data, shared
//! between the agent (fetches), the manager thread (start, stop, expiry) and
//! the threads reading its bpftrace process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

use crate::code::{CodeInfo, Metadata};
use crate::data::{BoundedText, ScriptData, Shape};

/// A script's lifecycle state (pmdabpftrace's strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not running (never started, stopped, or exited with status 0).
    Stopped,
    /// Registered, bpftrace being started.
    Starting,
    /// bpftrace running.
    Started,
    /// SIGINT sent, waiting for bpftrace to exit.
    Stopping,
    /// Not running because of an error (see the error text).
    Error,
}

impl Status {
    /// The string the `status` metric gives.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stopped => "stopped",
            Status::Starting => "starting",
            Status::Started => "started",
            Status::Stopping => "stopping",
            Status::Error => "error",
        }
    }
}

/// What the process side knows about the running bpftrace.
#[derive(Debug, Default)]
pub struct Proc {
    /// Process id (also the process group id) while it may be signalled.
    pub pid: Option<i32>,
    /// A stop was asked for (a clean exit then means `stopped`).
    pub stop_requested: bool,
    /// Why the agent stopped it (throughput, line too long): status `error`.
    pub failure: Option<String>,
    /// Incremented at each start, so stale deadlines are ignored.
    pub run: u64,
}

/// The mutable state of a script.
#[derive(Debug)]
pub struct State {
    /// Lifecycle state.
    pub status: Status,
    /// pid of bpftrace, -1 when not running.
    pub pid: i32,
    /// bpftrace's exit code (negative: killed by that signal).
    pub exit_code: i32,
    /// bpftrace's stderr (bounded) or the agent's reason for an error.
    pub error: BoundedText,
    /// Probes attached.
    pub probes: u64,
    /// Bytes read from bpftrace's stdout.
    pub data_bytes: u64,
    /// Events bpftrace reported lost.
    pub lost_events: u64,
    /// The first print block (or any data) arrived since the start.
    pub ready: bool,
    /// The maps and output.
    pub data: ScriptData,
    /// The process.
    pub proc: Proc,
}

impl State {
    /// Clears what a new run replaces (pmdabpftrace resets the state at
    /// each start).
    pub fn reset_for_start(&mut self) {
        self.pid = -1;
        self.exit_code = 0;
        self.error.clear();
        self.probes = 0;
        self.data_bytes = 0;
        self.lost_events = 0;
        self.ready = false;
        self.data.reset();
        self.proc.stop_requested = false;
        self.proc.failure = None;
    }
}

/// A registered script.
#[derive(Debug)]
pub struct Script {
    /// `s` + 32 hex digits, as pmdabpftrace generates them.
    pub script_id: String,
    /// The metric subtree name: `// name:` (or the autostart file stem), else the id.
    pub name: String,
    /// Cluster of its metrics.
    pub cluster: u32,
    /// The code as registered.
    pub code: String,
    /// The program given to bpftrace (code plus print block).
    pub program: String,
    /// What the code says.
    pub info: Arc<CodeInfo>,
    /// Who registered it.
    pub username: Option<String>,
    /// Registered from an autostart directory.
    pub autostart: bool,
    /// Named scripts never expire.
    pub persistent: bool,
    /// Registration time.
    pub created_at: SystemTime,
    /// Last fetch of one of its metrics.
    pub last_access: Mutex<SystemTime>,
    /// Deregistered: must not be started again.
    pub removed: AtomicBool,
    /// The state.
    pub state: Mutex<State>,
}

impl Script {
    /// Records an access (a fetch), which postpones expiry.
    pub fn touch(&self) {
        *self.last_access.lock() = SystemTime::now();
    }

    /// Whether the script was deregistered.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// pmdabpftrace's JSON for this script, without data.
    pub fn to_json(&self) -> ScriptJson {
        let st = self.state.lock();
        script_json(
            &self.script_id,
            self.username.as_deref(),
            self.persistent,
            self.created_at,
            *self.last_access.lock(),
            &self.code,
            &self.info.metadata,
            &variables(&self.info, Some(&st.data)),
            StateJson {
                status: st.status.as_str(),
                pid: st.pid,
                exit_code: st.exit_code,
                // As pmdabpftrace: the JSON has the text as bpftrace wrote
                // it; the error metric has it trimmed.
                error: st.error.text(),
                probes: st.probes,
                data_bytes: st.data_bytes,
            },
        )
    }
}

/// A new random script id: `s` and a version-4 UUID's 32 hex digits.
pub fn new_script_id() -> String {
    let mut bytes = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !ok {
        // No /dev/urandom: mix the clock, pid and a counter.
        use std::sync::atomic::AtomicU64;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let x = t
            ^ ((std::process::id() as u128) << 64)
            ^ (COUNTER.fetch_add(1, Ordering::Relaxed) as u128) << 96;
        bytes = x.to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(33);
    s.push('s');
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Local time as Python's `datetime.isoformat()` prints it
/// (`2024-05-01T12:34:56.123456`).
pub fn iso_local(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return format!("{}", d.as_secs());
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_micros()
    )
}

/// The `state` member of a script's JSON.
#[derive(Debug, Serialize)]
pub struct StateJson {
    /// Status string.
    pub status: &'static str,
    /// pid or -1.
    pub pid: i32,
    /// Exit code.
    pub exit_code: i32,
    /// Error text.
    pub error: String,
    /// Attached probes.
    pub probes: u64,
    /// Bytes read.
    pub data_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct VariableJson {
    single: bool,
    semantics: i32,
    datatype: i32,
    metrictype: Option<&'static str>,
}

/// The `variables` member, in pmdabpftrace's order (the order the code
/// assigns the maps, `@output` last), which a JSON object of sorted keys
/// would lose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variables(Vec<(String, VariableJson)>);

impl Variables {
    fn put(&mut self, name: &str, v: VariableJson) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = v,
            None => self.0.push((name.to_string(), v)),
        }
    }

    /// The entry of variable `name`, as JSON.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| serde_json::to_value(v).ok())
    }

    /// The variable names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_str()).collect()
    }
}

impl Serialize for Variables {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The `variables` member: each exported map (and `@output`) with
/// pmdabpftrace's fields: `single`, `semantics` and `datatype` as PCP's
/// numeric codes, `metrictype`.
pub fn variables(info: &CodeInfo, data: Option<&ScriptData>) -> Variables {
    use pcp_core::{Semantics, Type};
    let mut out = Variables::default();
    for m in &info.maps {
        use crate::code::Func;
        // pmdabpftrace lists the maps the code assigns.
        if m.func.is_none() {
            continue;
        }
        let hist = matches!(m.func, Some(Func::Hist | Func::Lhist));
        let sem = match m.func {
            Some(Func::Count | Func::Hist | Func::Lhist) => Semantics::Counter,
            _ => Semantics::Instant,
        };
        let metrictype = if hist {
            Some("histogram")
        } else if matches!(m.func, Some(Func::Stats)) {
            Some("stats")
        } else if m.stacks {
            Some("stacks")
        } else {
            None
        };
        out.put(
            &m.name,
            VariableJson {
                single: !m.keyed && !hist,
                semantics: sem.code(),
                datatype: Type::U64.code(),
                metrictype,
            },
        );
    }
    if let Some(d) = data {
        // What bpftrace actually printed wins over the guess from the code.
        for def in d.defs() {
            out.put(
                &def.name,
                VariableJson {
                    single: !def.keyed && def.shape != Shape::Histogram,
                    semantics: def.sem.code(),
                    datatype: def.ty.code(),
                    metrictype: def.metrictype(),
                },
            );
        }
    }
    if info.has_output && info.exports_output() && out.get("@output").is_none() {
        out.put(
            "@output",
            VariableJson {
                single: true,
                semantics: Semantics::Instant.code(),
                datatype: Type::String.code(),
                metrictype: Some("output"),
            },
        );
    }
    out
}

/// A script as pmdabpftrace encodes it (members in its order, no data).
#[derive(Debug, Serialize)]
pub struct ScriptJson {
    script_id: String,
    username: Option<String>,
    persistent: bool,
    created_at: String,
    last_accessed_at: String,
    code: String,
    metadata: Metadata,
    variables: Variables,
    state: StateJson,
}

/// Builds a script's JSON object.
#[allow(clippy::too_many_arguments)]
pub fn script_json(
    script_id: &str,
    username: Option<&str>,
    persistent: bool,
    created_at: SystemTime,
    last_access: SystemTime,
    code: &str,
    metadata: &Metadata,
    variables: &Variables,
    state: StateJson,
) -> ScriptJson {
    ScriptJson {
        script_id: script_id.to_string(),
        username: username.map(str::to_string),
        persistent,
        created_at: iso_local(created_at),
        last_accessed_at: iso_local(last_access),
        code: code.to_string(),
        metadata: metadata.clone(),
        variables: variables.clone(),
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_ids_look_like_pmdabpftrace_ones() {
        let a = new_script_id();
        let b = new_script_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 33);
        assert!(a.starts_with('s'));
        assert!(a[1..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(pcp_core::namespace::valid_component(&a));
    }

    #[test]
    fn iso_time_has_microseconds() {
        let s = iso_local(UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456));
        assert_eq!(s.len(), 26, "{s}");
        assert!(s.ends_with(".123456"));
        assert_eq!(&s[10..11], "T");
    }

    #[test]
    fn variables_json_matches_reference_fields() {
        let info = crate::code::analyse(
            "profile:hz:99 { @st[kstack] = count(); @h = hist(1); @x = 1; printf(\"hi\"); }",
        )
        .unwrap();
        let v = variables(&info, None);
        assert_eq!(
            v.get("@st").unwrap(),
            serde_json::json!({"single": false, "semantics": 1, "datatype": 3, "metrictype": "stacks"})
        );
        assert_eq!(
            v.names(),
            ["@st", "@h", "@x", "@output"],
            "the code's order"
        );
        assert_eq!(
            crate::pyjson::dumps(&v).split("\"@h\"").nth(1).unwrap(),
            r#": {"single": false, "semantics": 1, "datatype": 3, "metrictype": "histogram"}, "@x": {"single": true, "semantics": 3, "datatype": 3, "metrictype": null}, "@output": {"single": true, "semantics": 3, "datatype": 6, "metrictype": "output"}}"#,
            "members in pmdabpftrace's order"
        );
        let v = |n: &str| v.get(n).unwrap();
        assert_eq!(v("@h")["metrictype"], "histogram");
        assert_eq!(v("@h")["single"], false);
        assert_eq!(v("@x")["single"], true);
        assert_eq!(
            (v("@x")["datatype"].clone(), v("@x")["semantics"].clone()),
            (serde_json::json!(3), serde_json::json!(3))
        );
        assert_eq!(v("@output")["datatype"], 6);
        assert_eq!(v("@output")["metrictype"], "output");
    }
}
