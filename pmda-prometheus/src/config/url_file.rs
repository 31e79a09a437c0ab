//! What a `.url` file says: the URL, then `HEADER:`, `FILTER:`,
//! `METADATA:` lines and our `LABEL:`, `TIMEOUT:`, `DEADLINE:` and
//! `MIN_INTERVAL:` extensions; and the type and semantics words of
//! `METADATA:`.

use crate::units::parse_units;
use pcp_core::{Semantics, Type, Units};
use regex::Regex;

/// What a `FILTER:` rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    /// Keep the metric or label.
    Include,
    /// Drop it.
    Exclude,
    /// Keep a label as an optional label (a note), out of instance names.
    Optional,
}

/// One `FILTER:` rule; the regex is anchored at the start, as Python's
/// `re.match` is.
#[derive(Debug, Clone)]
pub struct Filter {
    /// What a match does.
    pub action: FilterAction,
    /// The pattern.
    pub regex: Regex,
}

/// One `METADATA:` entry.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Which samples (anchored at the start).
    pub regex: Regex,
    /// Data type.
    pub ty: Type,
    /// True when the indom word is `PM_INDOM_NULL`: the metric is singular.
    pub singular: bool,
    /// Semantics.
    pub sem: Semantics,
    /// Units.
    pub units: Units,
}

/// A parsed `.url` file.
#[derive(Debug, Clone, Default)]
pub struct UrlConfig {
    /// The URL (`http://`, `https://` or `file://`).
    pub url: String,
    /// `HEADER:` lines, in order (later duplicates replace earlier ones).
    pub headers: Vec<(String, String)>,
    /// `FILTER: ... METRIC` rules, in file order.
    pub metric_filters: Vec<Filter>,
    /// `FILTER: ... LABEL` rules, in file order.
    pub label_filters: Vec<Filter>,
    /// `METADATA:` entries, in file order.
    pub metadata: Vec<Metadata>,
    /// Extension `LABEL: name=value`: static labels of the source.
    pub labels: Vec<(String, String)>,
    /// Extension `TIMEOUT: seconds`: this source's own timeout.
    pub timeout: Option<std::time::Duration>,
    /// Extension `DEADLINE: seconds`: how long a fetch waits for this
    /// source before answering with its last good values, marked stale
    /// (the scrape itself goes on until its timeout).
    pub deadline: Option<std::time::Duration>,
    /// Extension `MIN_INTERVAL: seconds`: scrape this source at most this
    /// often; fetches in between answer from the last scrape.
    pub min_interval: Option<std::time::Duration>,
    /// Lines that were ignored, and why.
    pub warnings: Vec<String>,
}

fn anchored(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{re})"))
}

impl UrlConfig {
    /// Parses the text of a `.url` file. Never fails: bad lines become
    /// warnings; a file with no URL has an empty `url`.
    pub fn parse(text: &str) -> UrlConfig {
        let mut cfg = UrlConfig::default();
        let mut lines = text
            .trim()
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate();
        // Line 1 is the URL. As an extension, comment lines may precede it
        // (upstream's vmware.url does that).
        for (_, line) in lines.by_ref() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            cfg.url = t.to_string();
            break;
        }
        for (n, line) in lines {
            let lineno = n + 1;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let Some((kw, args)) = t.split_once(':') else {
                cfg.warnings.push(format!(
                    "line {lineno}: ignored unrecognised config entry {t:?}"
                ));
                continue;
            };
            let args = args.trim();
            let r = match kw.trim() {
                "HEADER" => cfg.header(args),
                "FILTER" => cfg.filter(args),
                "METADATA" => cfg.metadata_entry(args),
                "LABEL" => cfg.label(args),
                "TIMEOUT" => seconds(args, 60.0).map(|d| cfg.timeout = Some(d)),
                "DEADLINE" => seconds(args, 60.0).map(|d| cfg.deadline = Some(d)),
                "MIN_INTERVAL" => seconds(args, 86400.0).map(|d| cfg.min_interval = Some(d)),
                _ => Err("unrecognised config entry".to_string()),
            };
            if let Err(e) = r {
                cfg.warnings
                    .push(format!("line {lineno}: ignored {t:?}: {e}"));
            }
        }
        cfg
    }

    fn header(&mut self, args: &str) -> Result<(), String> {
        let (name, value) = args.split_once(':').ok_or("expected HEADER: name: value")?;
        let name: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        if name.is_empty() {
            return Err("empty header name".into());
        }
        let value = value.trim_start().to_string();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(h) => h.1 = value,
            None => self.headers.push((name, value)),
        }
        Ok(())
    }

    fn filter(&mut self, args: &str) -> Result<(), String> {
        let mut it = args.splitn(2, char::is_whitespace);
        let action = it.next().unwrap_or("");
        let rest = it.next().unwrap_or("").trim_start();
        let mut it = rest.splitn(2, char::is_whitespace);
        let scope = it.next().unwrap_or("");
        let pattern = it.next().unwrap_or("").trim();
        let action = match action {
            "INCLUDE" => FilterAction::Include,
            "EXCLUDE" => FilterAction::Exclude,
            "OPTIONAL" => FilterAction::Optional,
            _ => return Err("expected INCLUDE, EXCLUDE or OPTIONAL".into()),
        };
        if pattern.is_empty() {
            return Err("expected FILTER: ACTION METRIC|LABEL regex".into());
        }
        let regex = anchored(pattern).map_err(|e| format!("bad regex: {e}"))?;
        match scope {
            "METRIC" if action != FilterAction::Optional => {
                self.metric_filters.push(Filter { action, regex })
            }
            "METRIC" => return Err("OPTIONAL applies to labels only".into()),
            "LABEL" => self.label_filters.push(Filter { action, regex }),
            _ => return Err("expected METRIC or LABEL".into()),
        }
        Ok(())
    }

    fn metadata_entry(&mut self, args: &str) -> Result<(), String> {
        let words: Vec<&str> = args.split_whitespace().collect();
        if words.len() < 5 {
            return Err("expected METADATA: regex type indom semantics units".into());
        }
        let regex = anchored(words[0]).map_err(|e| format!("bad regex: {e}"))?;
        let ty = type_word(words[1]);
        let singular = words[2] == "PM_INDOM_NULL";
        let sem = sem_word(words[3]).ok_or("expected counter, instant or discrete")?;
        let units_text = words[4..].join(" ");
        let units = parse_units(&units_text).ok_or_else(|| format!("bad units {units_text:?}"))?;
        self.metadata.push(Metadata {
            regex,
            ty,
            singular,
            sem,
            units,
        });
        Ok(())
    }

    fn label(&mut self, args: &str) -> Result<(), String> {
        let (name, value) = args.split_once('=').ok_or("expected LABEL: name=value")?;
        let name = name.trim();
        if !pcp_core::labels::valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        self.labels.push((name.to_string(), value.to_string()));
        Ok(())
    }

    /// The filter decision for a metric (sample) name: the first matching
    /// rule, or include.
    pub fn metric_action(&self, name: &str) -> FilterAction {
        first_match(&self.metric_filters, name)
    }

    /// The filter decision for a label name: the first matching rule, or
    /// include.
    pub fn label_action(&self, name: &str) -> FilterAction {
        first_match(&self.label_filters, name)
    }

    /// The first `METADATA:` entry matching a sample name.
    pub fn metadata_for(&self, name: &str) -> Option<&Metadata> {
        self.metadata.iter().find(|m| m.regex.is_match(name))
    }
}

/// A keyword's seconds, in (0, max].
fn seconds(args: &str, max: f64) -> Result<std::time::Duration, String> {
    let secs: f64 = args.parse().map_err(|_| "expected seconds")?;
    if !(secs > 0.0 && secs <= max) {
        return Err(format!("must be in (0, {max}] seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn first_match(rules: &[Filter], name: &str) -> FilterAction {
    rules
        .iter()
        .find(|f| f.regex.is_match(name))
        .map_or(FilterAction::Include, |f| f.action)
}

/// The PCP type for a `METADATA:`/`# PCP5` type word (unknown words give
/// double, as the reference does).
pub fn type_word(w: &str) -> Type {
    match w {
        "float" => Type::Float,
        "u64" => Type::U64,
        "64" => Type::I64,
        "u32" => Type::U32,
        "32" => Type::I32,
        "string" => Type::String,
        "aggregate" => Type::Aggregate,
        _ => Type::Double,
    }
}

/// The semantics for a word.
pub fn sem_word(w: &str) -> Option<Semantics> {
    match w {
        "counter" => Some(Semantics::Counter),
        "instant" => Some(Semantics::Instant),
        "discrete" => Some(Semantics::Discrete),
        _ => None,
    }
}
