//! The config directory: which files are sources, what they are called,
//! and what a `.url` file says (URL, `HEADER:`, `FILTER:`, `METADATA:`).
//!
//! Rules (as PCP's pmdaopenmetrics): the directory is walked recursively;
//! a file whose owner-execute bit is set is a script, else a file ending in
//! `.url` is a URL source, anything else is ignored. Files whose name
//! starts with `.` are skipped. A source's name is its path relative to the
//! directory with the last extension removed and `/` made `.`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pcp_core::namespace::valid_name;
use pcp_core::{Semantics, Type, Units};
use regex::Regex;

use crate::units::parse_units;

/// How a source produces its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A `.url` file naming an `http://`, `https://` or `file://` URL.
    Url,
    /// An executable whose standard output is the document.
    Script,
}

/// One source found in the config directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceFile {
    /// The source name (`mysource.latency.get`).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// URL file or script.
    pub kind: SourceKind,
}

/// The result of one scan: the sources, and what was wrong (to log).
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Accepted sources, sorted by path unless `nosort`.
    pub sources: Vec<SourceFile>,
    /// Rejected files and why.
    pub errors: Vec<String>,
}

/// True if `name` is a name the reference accepts for a source
/// (`^[A-Za-z][A-Za-z0-9_.]*$`) and every dotted part is a namespace
/// component.
pub fn valid_source_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && valid_name(name)
}

/// The source name of `path` (relative to the config dir): the last
/// extension stripped (as Python's `os.path.splitext`), `/` made `.`.
pub fn source_name(rel: &Path) -> String {
    let s = rel.to_string_lossy();
    let (dir, base) = match s.rfind('/') {
        Some(i) => (&s[..=i], &s[i + 1..]),
        None => ("", &s[..]),
    };
    // splitext: the extension starts at the last '.', unless the base is
    // all leading dots before it.
    let stem = match base.rfind('.') {
        Some(i) if base[..i].chars().any(|c| c != '.') => &base[..i],
        _ => base,
    };
    format!("{dir}{stem}").replace('/', ".")
}

/// Walks `dir` and returns its sources. With `nosort`, files come in the
/// order the directory lists them.
pub fn scan(dir: &Path, nosort: bool) -> Scan {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    walk(dir, dir, &mut found, &mut errors, 0);
    if !nosort {
        // Plain string order of the full path, as the reference sorts
        // (not component order: "a/b.url" comes before "a/b/c.url").
        found.sort_by(|a: &SourceFile, b| a.path.as_os_str().cmp(b.path.as_os_str()));
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut sources = Vec::with_capacity(found.len());
    for f in found {
        if !valid_source_name(&f.name) {
            errors.push(format!(
                "{}: source name {:?} is unsuitable for the PCP namespace, ignored",
                f.path.display(),
                f.name
            ));
            continue;
        }
        if f.name == "control" || f.name.starts_with("control.") {
            errors.push(format!(
                "{}: source name {:?} is reserved for the control metrics, ignored",
                f.path.display(),
                f.name
            ));
            continue;
        }
        if let Some(other) = overlap(&names, &f.name) {
            errors.push(format!(
                "{}: source name {:?} overlaps source {:?}, ignored",
                f.path.display(),
                f.name,
                other
            ));
            continue;
        }
        names.insert(f.name.clone());
        sources.push(f);
    }
    Scan { sources, errors }
}

/// A name in `names` equal to `name`, a prefix of it at a dot, or having it
/// as such a prefix.
fn overlap(names: &BTreeSet<String>, name: &str) -> Option<String> {
    if names.contains(name) {
        return Some(name.to_string());
    }
    // A shorter name that is a dotted prefix of `name`.
    let mut end = 0;
    while let Some(i) = name[end..].find('.') {
        let prefix = &name[..end + i];
        if names.contains(prefix) {
            return Some(prefix.to_string());
        }
        end += i + 1;
    }
    // A longer name under `name.`.
    let under = format!("{name}.");
    names
        .range(under.clone()..)
        .next()
        .filter(|n| n.starts_with(&under))
        .cloned()
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>, errors: &mut Vec<String>, depth: u32) {
    if depth > 32 {
        errors.push(format!("{}: directory tree too deep", dir.display()));
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(root, &path, out, errors, depth + 1);
            continue;
        }
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Follow symlinks to files (the shipped grafana.url is one).
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let kind = if meta.permissions().mode() & 0o100 != 0 {
            SourceKind::Script
        } else if path.extension().is_some_and(|e| e == "url") {
            SourceKind::Url
        } else {
            continue;
        };
        let rel = path.strip_prefix(root).unwrap_or(&path);
        out.push(SourceFile {
            name: source_name(rel),
            path,
            kind,
        });
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn source_names_as_the_reference() {
        assert_eq!(source_name(Path::new("a/b/c.url")), "a.b.c");
        assert_eq!(
            source_name(Path::new("multiple.namespace.levels.sh")),
            "multiple.namespace.levels"
        );
        assert_eq!(source_name(Path::new("script")), "script");
        assert_eq!(source_name(Path::new("curl/script.sh")), "curl.script");
        assert_eq!(
            source_name(Path::new("mysource/latency/get.url")),
            "mysource.latency.get"
        );
        assert!(valid_source_name("a.b_c"));
        assert!(!valid_source_name("1a"));
        assert!(!valid_source_name("a-b"));
        assert!(!valid_source_name("a..b"));
        assert!(!valid_source_name("a."));
    }

    #[test]
    fn scan_classifies_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let w = |p: &str, text: &str, mode: u32| {
            let path = d.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        };
        w("node.url", "http://x/metrics\n", 0o644);
        w("README", "docs\n", 0o644);
        w("notes.txt", "x\n", 0o644);
        w(".hidden.url", "http://x\n", 0o644);
        w("local/system.sh", "#!/bin/sh\n", 0o755);
        w("exec.url", "#!/bin/sh\n", 0o755);
        w("control.url", "http://x\n", 0o644);
        w("bad-name.url", "http://x\n", 0o644);
        w("a/b.url", "http://x\n", 0o644);
        w("a/b/c.url", "http://x\n", 0o644);
        w("dup.url", "http://x\n", 0o644);
        w("dup.sh", "#!/bin/sh\n", 0o755);
        w(".d/inner.url", "http://x\n", 0o644);
        let s = scan(d, false);
        let got: Vec<(&str, SourceKind)> = s
            .sources
            .iter()
            .map(|f| (f.name.as_str(), f.kind))
            .collect();
        assert_eq!(
            got,
            [
                (".d.inner", SourceKind::Url),
                ("a.b", SourceKind::Url),
                ("dup", SourceKind::Script),
                ("exec", SourceKind::Script),
                ("local.system", SourceKind::Script),
                ("node", SourceKind::Url),
            ]
            .into_iter()
            .filter(|(n, _)| valid_source_name(n))
            .collect::<Vec<_>>()
        );
        let errs = s.errors.join("\n");
        assert!(errs.contains("\"control\" is reserved"), "{errs}");
        assert!(errs.contains("\"bad-name\" is unsuitable"), "{errs}");
        assert!(errs.contains("\"a.b.c\" overlaps source \"a.b\""), "{errs}");
        assert!(errs.contains("\"dup\" overlaps source \"dup\""), "{errs}");
    }

    #[test]
    fn url_file_keywords() {
        let text = "http://localhost:3000/metrics\r\n\r\n# comment\r\n\
HEADER: Authorization: Bearer abc:def\r\n\
HEADER: Some header: has: colons: and spaces in: it!!!!!!\r\n\
FILTER: EXCLUDE METRIC job:rate:.*\r\n\
FILTER: INCLUDE METRIC .*\r\n\
FILTER: OPTIONAL LABEL hostname\r\n\
FILTER: EXCLUDE LABEL instance$\r\n\
FILTER: INCLUDE .*\r\n\
FILTER: EXCLUDE\r\n\
METADATA: grafana_api_response_status_total  u32 response   counter  count\r\n\
METADATA: temp_.* double PM_INDOM_NULL instant none\r\n\
LABEL: team=\"infra\"\r\n\
TIMEOUT: 0.5\r\n\
DEADLINE: 0.25\r\n\
MIN_INTERVAL: 10\r\n\
DEADLINE: -1\r\n\
BOGUS: x\r\n";
        let c = UrlConfig::parse(text);
        assert_eq!(c.url, "http://localhost:3000/metrics");
        assert_eq!(
            c.headers,
            [
                ("Authorization".to_string(), "Bearer abc:def".to_string()),
                (
                    "Someheader".to_string(),
                    "has: colons: and spaces in: it!!!!!!".to_string()
                )
            ]
        );
        assert_eq!(c.metric_action("job:rate:5m"), FilterAction::Exclude);
        assert_eq!(c.metric_action("other"), FilterAction::Include);
        assert_eq!(c.label_action("hostname"), FilterAction::Optional);
        assert_eq!(c.label_action("instance"), FilterAction::Exclude);
        assert_eq!(c.label_action("instance2"), FilterAction::Include);
        let m = c.metadata_for("grafana_api_response_status_total").unwrap();
        assert_eq!(
            (m.ty, m.singular, m.sem, m.units),
            (Type::U32, false, Semantics::Counter, Units::COUNT)
        );
        assert!(c.metadata_for("temp_cpu").unwrap().singular);
        assert_eq!(c.labels, [("team".to_string(), "infra".to_string())]);
        assert_eq!(c.timeout, Some(std::time::Duration::from_millis(500)));
        assert_eq!(c.deadline, Some(std::time::Duration::from_millis(250)));
        assert_eq!(c.min_interval, Some(std::time::Duration::from_secs(10)));
        assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
        assert!(c.warnings[2].contains("DEADLINE: -1"), "{:?}", c.warnings);
        assert!(c.warnings[3].contains("BOGUS"));
    }

    #[test]
    fn comments_before_the_url_are_allowed() {
        let c = UrlConfig::parse(
            "# vmware exporter\n\nhttp://h:9272/metrics\nFILTER: EXCLUDE METRIC a\n",
        );
        assert_eq!(c.url, "http://h:9272/metrics");
        assert_eq!(c.metric_filters.len(), 1);
    }

    #[test]
    fn first_matching_filter_wins_and_match_is_prefix() {
        let c = UrlConfig::parse(
            "file:///x\nFILTER: INCLUDE METRIC metric1$\nFILTER: EXCLUDE METRIC metric1\n",
        );
        assert_eq!(c.metric_action("metric1"), FilterAction::Include);
        assert_eq!(c.metric_action("metric10"), FilterAction::Exclude);
        assert_eq!(c.metric_action("xmetric1"), FilterAction::Include);
    }
}
