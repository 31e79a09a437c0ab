//! Exposition names: how a PCP metric name and its label names become
//! Prometheus/OpenMetrics names, one to one over a whole namespace.
//!
//! The starting point is pmproxy 6.0.3's `/metrics`: a dot becomes an
//! underscore (`kernel.all.load` is `kernel_all_load`). That alone is
//! what pmproxy prints, but it fails the exposition formats' own rules
//! (a counter's samples end in `_total`, a gauge's must not) and maps
//! `a.b_c` and `a_b.c` to one name. The rules below keep pmproxy's name
//! wherever it breaks neither, and change it where it does, always the
//! same way:
//!
//! 1. Dots, and any other character outside `[A-Za-z0-9_]`, become `_`;
//!    a name that would then not start with a letter gets `pcp_` in front.
//! 2. A name written in camelCase (a lower-case letter followed by an
//!    upper-case one anywhere) is put in snake_case, every letter lower
//!    case: `mem.numa.util.hugepagesFree` is `mem_numa_util_hugepages_free`,
//!    node_exporter's `node_netstat_TcpExt_TCPSynRetrans` is
//!    `node_netstat_tcp_ext_tcp_syn_retrans`.
//! 3. A word (between underscores) that Prometheus reads as a unit
//!    abbreviation (`s`, `ms`, `us`, `ns`, `sec`, `b`, `kb`, `mb`, `gb`,
//!    `tb`, `pb`, `m`, `h`, `d`), a scaled or non-base unit (`milliseconds`,
//!    `kilobytes`, `bits`, `minutes`, ...) or a metric type (`counter`,
//!    `gauge`, `histogram`, `summary`) is joined to the word before it (to
//!    the word after it when it is the first): `prometheus.control.
//!    fetch_time_us` is `prometheus_control_fetch_timeus_total`. Those are
//!    the words `promtool check metrics` rejects in a name.
//! 4. A counter's samples are named `FAMILY_total`. Its family name is
//!    the name rules 1-3 give, less a final `_total` if it has one: a PCP
//!    counter named like a Prometheus counter (`..._requests_total`) keeps
//!    that name for its samples. OpenMetrics text names the family
//!    `FAMILY` and the samples `FAMILY_total`; Prometheus text (0.0.4)
//!    names both `FAMILY_total`; so a series has one name in both formats.
//! 5. Any other metric's family and samples have one name: what rules 1-3
//!    give, with `_value` added when it would end in a suffix the formats
//!    keep for counters, histograms and summaries (`_total`, `_count`,
//!    `_sum`, `_bucket`): `network.rawconn.count` is
//!    `network_rawconn_count_value`.
//! 6. Over the whole namespace ([`NameMap`]) no two metrics may clash: a
//!    counter holds the names `FAMILY`, `FAMILY_total` and `FAMILY_created`
//!    (those OpenMetrics gives its samples), any other metric its one name,
//!    and no name may be held twice (the rule of OpenMetrics, and of the
//!    Prometheus project's reference parser). Where rules 1-5 make two
//!    metrics clash, the metric whose PCP name sorts first (byte order, so
//!    `a.b_c` before `a_b.c`) keeps its name and each other one takes the
//!    first free of: the name of rules 1-3 with `_value` added (so
//!    `mem.vmstat.pgscan_direct_total`, whose family would be that of
//!    `mem.vmstat.pgscan_direct`, is `mem_vmstat_pgscan_direct_total_value`
//!    with samples `..._total_value_total`); that name with `_` and eight
//!    hex digits (the FNV-1a 32-bit hash of the PCP name) in place of
//!    `_value`; then `_2`, `_3`, ... after the hash. A metric's name
//!    therefore changes only when a metric clashing with it appears or
//!    goes.
//!
//! Label names ([`label_name`]) follow rules 1 and 2; the names the
//! formats reserve for histograms and summaries (`le`, `quantile`), the
//! names this renderer adds itself (`instname`, `instid`) and names
//! starting with `__` get an `exported_` prefix, as Prometheus does for a
//! scraped label that clashes with one of its own.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Unit abbreviations promtool rejects as words of a metric name.
const ABBREVIATIONS: [&str; 14] = [
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// Metric type names promtool rejects as words of a metric name.
const TYPE_WORDS: [&str; 4] = ["counter", "gauge", "histogram", "summary"];

/// Units promtool knows, with whether each is a base unit.
const UNITS: [(&str, bool); 24] = [
    ("amperes", true),
    ("bytes", true),
    ("celsius", true),
    ("grams", true),
    ("joules", true),
    ("kelvin", true),
    ("meters", true),
    ("metres", true),
    ("seconds", true),
    ("volts", true),
    ("minutes", false),
    ("hours", false),
    ("days", false),
    ("weeks", false),
    ("kelvins", false),
    ("fahrenheit", false),
    ("rankine", false),
    ("inches", false),
    ("yards", false),
    ("miles", false),
    ("bits", false),
    ("calories", false),
    ("pounds", false),
    ("ounces", false),
];

/// Unit prefixes promtool knows: any of them makes a unit non-base.
const UNIT_PREFIXES: [&str; 18] = [
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

/// Last words the formats keep for counters, histograms and summaries: a
/// metric that is not a counter ending in one gets `_value` added.
const RESERVED_SUFFIXES: [&str; 4] = ["total", "count", "sum", "bucket"];

/// Label names the formats or this renderer reserve.
const RESERVED_LABELS: [&str; 4] = ["le", "quantile", "instname", "instid"];

/// The exposition names of one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpositionName {
    /// The OpenMetrics family name (the name in `# TYPE` of OpenMetrics
    /// text).
    pub family: String,
    /// The sample (series) name: `family` + `_total` for a counter, else
    /// `family`. Prometheus text (0.0.4) uses it as the family name too.
    pub series: String,
}

impl ExpositionName {
    fn new(family: String, counter: bool) -> ExpositionName {
        let series = if counter {
            format!("{family}_total")
        } else {
            family.clone()
        };
        ExpositionName { family, series }
    }
}

/// A word of a name that promtool rejects (rule 3), the word lower-cased.
fn rejected_word(word: &str, first: bool) -> bool {
    if word.is_empty() {
        return false;
    }
    if !first && (ABBREVIATIONS.contains(&word) || TYPE_WORDS.contains(&word)) {
        return true;
    }
    for (unit, base) in UNITS {
        if let Some(prefix) = word.strip_suffix(unit) {
            if prefix.is_empty() {
                return !base;
            }
            if UNIT_PREFIXES.contains(&prefix) {
                return true;
            }
        }
    }
    false
}

/// Rule 1: characters outside `[A-Za-z0-9_]` become `_`, and the name
/// starts with a letter.
fn sanitise(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "pcp_");
    }
    s
}

/// Rule 2: a name with a camelCase boundary in snake_case, lower case.
fn snake_case(s: String) -> String {
    let b = s.as_bytes();
    if !b
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
    {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = b[i - 1];
            let next_lower = b.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || (prev.is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase() as char);
    }
    out
}

/// Rule 3: joins every rejected word to its neighbour until none is left.
fn join_rejected_words(s: String) -> String {
    let mut words: Vec<String> = s.split('_').map(str::to_string).collect();
    loop {
        let found = words
            .iter()
            .enumerate()
            .position(|(i, w)| rejected_word(&w.to_ascii_lowercase(), i == 0));
        let Some(i) = found else { break };
        // Joined in lower case, so that no camelCase boundary appears.
        if i > 0 {
            let w = words.remove(i).to_ascii_lowercase();
            words[i - 1].push_str(&w);
        } else if words.len() > 1 {
            let w = words.remove(1).to_ascii_lowercase();
            words[0].push_str(&w);
        } else {
            words[0].push_str("value");
        }
    }
    words.join("_")
}

/// The name of rules 1-3.
fn base_name(pcp_name: &str) -> String {
    join_rejected_words(snake_case(sanitise(pcp_name)))
}

/// The names rules 1-5 give a metric, before clashes with other metrics
/// are settled ([`NameMap`] does that).
pub fn exposition_name(pcp_name: &str, counter: bool) -> ExpositionName {
    let mut family = base_name(pcp_name);
    if counter {
        if let Some(stem) = family.strip_suffix("_total").filter(|s| !s.is_empty()) {
            family.truncate(stem.len());
        }
    } else {
        let last = family.rsplit('_').next().unwrap_or("");
        if family.contains('_')
            && RESERVED_SUFFIXES
                .iter()
                .any(|r| last.eq_ignore_ascii_case(r))
        {
            family.push_str("_value");
        }
    }
    ExpositionName::new(family, counter)
}

/// The `k`-th name rule 6 offers a metric that lost a clash.
fn fallback_name(pcp_name: &str, counter: bool, k: usize) -> ExpositionName {
    let base = base_name(pcp_name);
    let family = match k {
        0 => format!("{base}_value"),
        1 => format!("{base}_{:08x}", fnv1a32(pcp_name)),
        k => format!("{base}_{:08x}_{k}", fnv1a32(pcp_name)),
    };
    ExpositionName::new(family, counter)
}

/// FNV-1a, 32 bits: a stable hash (the same in every release and on
/// every machine) for rule 6.
fn fnv1a32(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Names held so far (rule 6).
#[derive(Debug, Default)]
struct Taken(HashSet<String>);

impl Taken {
    /// The names a metric holds: a counter its family and the names of
    /// its OpenMetrics samples, another metric its one name.
    fn held(n: &ExpositionName) -> Vec<String> {
        if n.series == n.family {
            vec![n.family.clone()]
        } else {
            vec![
                n.family.clone(),
                n.series.clone(),
                format!("{}_created", n.family),
            ]
        }
    }

    /// Whether none of `n`'s names is held yet.
    fn free(&self, n: &ExpositionName) -> bool {
        Taken::held(n).iter().all(|h| !self.0.contains(h))
    }

    fn take(&mut self, n: &ExpositionName) {
        self.0.extend(Taken::held(n));
    }
}

/// The exposition names of every metric of a namespace, one to one (rule
/// 6 of the [module documentation](self)).
#[derive(Debug, Default, Clone)]
pub struct NameMap {
    names: HashMap<String, ExpositionName>,
}

impl NameMap {
    /// Names every metric of `metrics` (PCP name, whether a counter).
    /// The result depends on the set only, not on its order.
    pub fn build<'a>(metrics: impl IntoIterator<Item = (&'a str, bool)>) -> NameMap {
        let mut all: Vec<(&str, bool)> = metrics.into_iter().collect();
        all.sort_unstable();
        all.dedup_by(|a, b| a.0 == b.0);
        let mut taken = Taken::default();
        let mut names = HashMap::with_capacity(all.len());
        let mut clashed = Vec::new();
        for &(pcp, counter) in &all {
            let n = exposition_name(pcp, counter);
            if taken.free(&n) {
                taken.take(&n);
                names.insert(pcp.to_string(), n);
            } else {
                clashed.push((pcp, counter));
            }
        }
        for (pcp, counter) in clashed {
            let mut k = 0;
            let mut n = fallback_name(pcp, counter, k);
            while !taken.free(&n) {
                k += 1;
                n = fallback_name(pcp, counter, k);
            }
            taken.take(&n);
            names.insert(pcp.to_string(), n);
        }
        NameMap { names }
    }

    /// The names of `pcp_name`, if it was in the namespace.
    pub fn get(&self, pcp_name: &str) -> Option<&ExpositionName> {
        self.names.get(pcp_name)
    }

    /// How many metrics are named.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no metric is named.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The exposition name of a PCP label name (see the [module
/// documentation](self)).
pub fn label_name(name: &str) -> Cow<'_, str> {
    let plain = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    let s: Cow<'_, str> = if plain {
        Cow::Borrowed(name)
    } else if name.starts_with("__") {
        Cow::Owned(snake_case(
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect(),
        ))
    } else {
        let mut s: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            s.insert(0, 'l');
        }
        Cow::Owned(snake_case(s))
    };
    if RESERVED_LABELS.contains(&&*s) || s.starts_with("__") {
        Cow::Owned(format!("exported_{s}"))
    } else {
        s
    }
}

#[cfg(test)]
mod tests;
