//! What the live comparisons with pmdaproc share: running pminfo against
//! the system pmcd and reading its output (ours is rendered by
//! `pcp_core::render::pminfo` in the same form).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Command;

use pcp_core::testing::{have_program, require};

/// One metric as pminfo shows it.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    /// The first line (name, and PMID with `-m`).
    pub head: String,
    /// The descriptor lines (`-d`).
    pub desc: Vec<String>,
    /// The metric's labels (`-l`) without the context's.
    pub labels: Option<String>,
    /// Each instance's labels by instance name, without the context's.
    pub inst_labels: BTreeMap<String, String>,
    /// Values (`-f`) by instance id: (instance name, value).
    pub values: BTreeMap<u32, (String, String)>,
}

/// Labels every context carries (pmcd's, or our host's): not the agent's.
const CONTEXT_LABELS: &[&str] = &["hostname", "domainname", "machineid", "userid", "groupid"];

/// A label set's JSON without the context's labels, keys sorted.
pub fn agent_labels(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return format!("unparsable: {json}");
    };
    let kept: BTreeMap<String, serde_json::Value> = map
        .into_iter()
        .filter(|(k, _)| !CONTEXT_LABELS.contains(&k.as_str()))
        .collect();
    serde_json::to_string(&kept).unwrap()
}

/// Splits `inst [ID or "NAME"] REST` into its parts.
fn inst_line(rest: &str) -> Option<(u32, &str, &str)> {
    let (id, rest) = rest.split_once(" or \"")?;
    let (name, rest) = rest.split_once("\"] ")?;
    Some((id.parse().ok()?, name, rest))
}

/// pminfo's (or our rendering's) output, by metric name.
///
/// pminfo prints a string value as it is, without escaping, so a command
/// line holding newlines and quotes (PCP 6.0.3's pmdaproc keeps newlines
/// in psargs) spans several lines, blank ones and lines ending in a quote
/// included. A string value ends at a quote closing a line only where
/// what follows is what pminfo prints after a value: another instance
/// line, or blank lines then a metric's name or the end. A metric starts
/// only at an unindented dotted name after a blank line.
pub fn parse(text: &str) -> BTreeMap<String, Shown> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Shown)> = None;
    let all: Vec<&str> = text.lines().collect();
    let mut at = 0;
    let mut after_blank = true;
    while let Some(&line) = all.get(at) {
        at += 1;
        if line.trim().is_empty() {
            after_blank = true;
            continue;
        }
        let starts_metric = after_blank && !line.starts_with(' ') && is_metric_head(line);
        after_blank = false;
        if starts_metric {
            if let Some((name, s)) = current.take() {
                out.insert(name, s);
            }
            let name = line.split_whitespace().next().unwrap_or("").to_string();
            let s = Shown {
                head: line.trim().to_string(),
                ..Default::default()
            };
            current = Some((name, s));
            continue;
        }
        let Some((_, s)) = current.as_mut() else {
            continue;
        };
        let t = line.trim_start();
        if t.starts_with("Data Type:") || t.starts_with("Semantics:") {
            s.desc.push(t.trim_end().to_string());
        } else if let Some(l) = t.strip_prefix("labels ") {
            s.labels = Some(agent_labels(l));
        } else if let Some(rest) = t.strip_prefix("inst [") {
            let mut logical = rest.to_string();
            while string_value(&logical)
                .is_some_and(|v| !v.ends_with('"') || !value_ends_before(&all[at..]))
            {
                let Some(&more) = all.get(at) else { break };
                at += 1;
                logical.push('\n');
                logical.push_str(more);
            }
            let Some((id, iname, rest)) = inst_line(&logical) else {
                continue;
            };
            if let Some(l) = rest.strip_prefix("labels ") {
                s.inst_labels.insert(iname.to_string(), agent_labels(l));
            } else if let Some(v) = rest.strip_prefix("value ") {
                s.values.insert(id, (iname.to_string(), v.to_string()));
            }
        }
    }
    if let Some((name, s)) = current {
        out.insert(name, s);
    }
    out
}

/// Whether a line opens a metric: a dotted name (`proc.psinfo.pid`),
/// then the end of the line or a space.
fn is_metric_head(line: &str) -> bool {
    let name = line.split(' ').next().unwrap_or("");
    name.contains('.')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

/// An instance line's string value without its opening quote, if its
/// value is a string.
fn string_value(logical: &str) -> Option<&str> {
    let (_, _, rest) = inst_line(logical)?;
    rest.strip_prefix("value \"")
}

/// Whether `rest`, the lines after one ending in a quote, are what pminfo
/// prints after a value: another instance line, or blank lines then a
/// metric's name or the end of the output.
fn value_ends_before(rest: &[&str]) -> bool {
    let Some(first) = rest.first() else {
        return true;
    };
    if first
        .strip_prefix("    inst [")
        .is_some_and(|i| inst_line(i).is_some())
    {
        return true;
    }
    let blanks = rest.iter().take_while(|l| l.trim().is_empty()).count();
    if blanks == 0 {
        return false;
    }
    rest.get(blanks)
        .is_none_or(|next| !next.starts_with(' ') && is_metric_head(next))
}

/// A string as current PCP shows a command line: terminal escape
/// sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL` or `ESC ] ... ESC \\`,
/// and two-character `ESC x`) dropped, other control characters (newlines,
/// tabs) made spaces. PCP 6.0.3's pmdaproc kept them all; this agent does
/// as current PCP does.
pub fn printable(s: &str) -> String {
    const ESC: char = '\u{1b}';
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        if c != ESC {
            out.push(if c.is_ascii_control() { ' ' } else { c });
            continue;
        }
        match chars.get(i) {
            // CSI: up to and with its final character.
            Some('[') => {
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|c| !('\u{40}'..='\u{7e}').contains(c))
                {
                    i += 1;
                }
                i += 1;
            }
            // OSC: up to BEL or ESC \ (another ESC begins a new sequence).
            Some(']') => {
                i += 1;
                while chars.get(i).is_some_and(|&c| c != '\u{7}' && c != ESC) {
                    i += 1;
                }
                if chars.get(i) == Some(&'\u{7}') {
                    i += 1;
                } else if chars.get(i) == Some(&ESC) && chars.get(i + 1) == Some(&'\\') {
                    i += 2;
                }
            }
            Some(_) => i += 1,
            None => {}
        }
    }
    out
}

/// The system pmcd's unix socket: a client reaching pmcd through it
/// passes its credentials, without which pmdaproc gives no per-process
/// figures (a `pminfo` without `-h` may fall back to TCP).
pub const PMCD_SOCKET: &str = "/run/pcp/pmcd.socket";

/// `-h` for the system pmcd over its unix socket.
pub fn pmcd_host() -> String {
    format!("unix:{PMCD_SOCKET}")
}

/// Runs pminfo against the system pmcd over its unix socket (pmdaproc
/// sees root's credentials).
pub fn pminfo(args: &[&str], names: &[String]) -> String {
    let out = Command::new("pminfo")
        .arg("-h")
        .arg(pmcd_host())
        .args(args)
        .args(names)
        .output()
        .expect("pminfo");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True (after saying so where a person sees it, or failing under
/// `./test.sh`) when pmdaproc answers under the system pmcd and we are
/// root.
pub fn have_pmdaproc() -> bool {
    let socket = std::path::Path::new(PMCD_SOCKET).exists();
    if !require(
        "pmcd's unix socket",
        socket,
        "the system pmcd with its unix socket (scripts/setup-systems.sh)",
    ) {
        return false;
    }
    let have = have_program("pminfo")
        && Command::new("pminfo")
            .arg("-h")
            .arg(pmcd_host())
            .args(["-m", "proc.nprocs"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PMID: 3.8.99"));
    if !require(
        "pmdaproc",
        have,
        "PCP's pmcd with pmdaproc answering proc.nprocs",
    ) {
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    require(
        "root",
        unsafe { libc::geteuid() } == 0,
        "pmdaproc gives values to root only here",
    )
}

/// `ours` equals one of pmdaproc's answers or, for numbers, lies between
/// them (counters still move a little between the reads).
pub fn within(ours: &str, before: &str, after: &str) -> bool {
    if ours == before || ours == after {
        return true;
    }
    match (
        ours.parse::<f64>(),
        before.parse::<f64>(),
        after.parse::<f64>(),
    ) {
        (Ok(o), Ok(b), Ok(a)) => o >= b.min(a) && o <= b.max(a),
        _ => false,
    }
}

/// True when `name` is listed in `table` (by full name, or by a prefix
/// ending in `.`).
pub fn listed(name: &str, table: &[(&str, &str)]) -> bool {
    table
        .iter()
        .any(|(p, _)| name == *p || (p.ends_with('.') && name.starts_with(p)))
}
