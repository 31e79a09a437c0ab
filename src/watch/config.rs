//! pmrep's configuration: INI files read as Python's ConfigParser reads
//! them (sections, `key = value` or `key: value`, `#`/`;` comments, indented
//! continuation lines, `%%` for `%`), found as pmrep finds them (`-c FILE`
//! or directory, else `./pmrep.conf`, `~/.pmrep.conf`, `~/.pcp/pmrep.conf`,
//! `$PCP_SYSCONF_DIR/pmrep/pmrep.conf`, `$PCP_SYSCONF_DIR/pmrep/`, else
//! the copy shipped in `conf/pmrep/`); a directory contributes its `*.conf`
//! files in name order, and a later file's section replaces an earlier
//! one's. A metricset (`[iostat-dktx]`) holds reporting options and metric
//! specifications, compact (`disk.dev.read = r/s,,,,7`: label, instances,
//! unit, type, width, precision, limit) or verbose (`x = metric.name`,
//! `x.label = ...`, `x.formula = EXPR` defining a derived metric).

use std::path::{Path, PathBuf};

/// pmrep's presets shipped for machines without PCP.
pub const SHIPPED: &[(&str, &str)] = &[(
    "conf/pmrep/presets.conf",
    include_str!("../../conf/pmrep/presets.conf"),
)];

/// One INI section: its keys and values in file order.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Where it was read from.
    pub source: String,
    /// (key, value) pairs, interpolated.
    pub entries: Vec<(String, String)>,
}

/// The sections of every configuration file read, later files' sections
/// replacing earlier ones (pmrep's rule), `[options]` merged in order.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The merged `[options]` entries (later files override).
    pub options: Vec<(String, String, String)>,
    /// Every other section by name, with its source.
    pub sections: Vec<(String, Section)>,
}

/// One metric of a metricset: pmrep's metric specification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSpec {
    /// The metric (or subtree) name.
    pub name: String,
    /// Column label.
    pub label: Option<String>,
    /// Instances to report (empty: all).
    pub instances: Vec<String>,
    /// Unit/scale to report in (`KB`, `s`, `count x 10^3`).
    pub unit: Option<String>,
    /// `raw` (no rate conversion) or not.
    pub raw: Option<bool>,
    /// Column width.
    pub width: Option<usize>,
    /// Digits after the decimal point.
    pub precision: Option<usize>,
}

/// A metricset: its metrics and the derived metrics its formulas define.
#[derive(Debug, Clone, Default)]
pub struct MetricSet {
    /// The metrics, in file order.
    pub metrics: Vec<MetricSpec>,
    /// `(name, expression)` of each `.formula`.
    pub formulas: Vec<(String, String)>,
}

const SPEC_FIELDS: [&str; 8] = [
    "label",
    "instances",
    "unit",
    "type",
    "width",
    "precision",
    "limit",
    "formula",
];

/// Parses one INI text (Python ConfigParser rules, strict: a section or
/// key given twice in one file is an error).
pub fn parse_ini(source: &str, text: &str) -> Result<Vec<(String, Section)>, String> {
    let mut out: Vec<(String, Section)> = Vec::new();
    let mut last_key: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            last_key = None;
            continue;
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented {
            if let (Some(k), Some((_, sec))) = (last_key, out.last_mut()) {
                let entry = &mut sec.entries[k];
                entry.1.push('\n');
                entry.1.push_str(trimmed);
                continue;
            }
        }
        if trimmed.starts_with('[') {
            let Some(end) = trimmed.find(']') else {
                return Err(format!(
                    "{source}, line {lineno}: section header without ']'"
                ));
            };
            let name = trimmed[1..end].to_string();
            if out.iter().any(|(n, _)| *n == name) {
                return Err(format!(
                    "{source}, line {lineno}: section [{name}] already exists"
                ));
            }
            out.push((
                name,
                Section {
                    source: source.to_string(),
                    entries: Vec::new(),
                },
            ));
            last_key = None;
            continue;
        }
        let Some((_, section)) = out.last_mut() else {
            return Err(format!(
                "{source}, line {lineno}: a key before any [section]"
            ));
        };
        let Some(cut) = trimmed.find(['=', ':']) else {
            return Err(format!(
                "{source}, line {lineno}: not 'key = value': {trimmed}"
            ));
        };
        let key = trimmed[..cut].trim().to_string();
        let value = trimmed[cut + 1..].trim().to_string();
        if section.entries.iter().any(|(k, _)| *k == key) {
            return Err(format!(
                "{source}, line {lineno}: option '{key}' already exists"
            ));
        }
        section.entries.push((key, value));
        last_key = Some(section.entries.len() - 1);
    }
    for (_, sec) in &mut out {
        for (k, v) in &mut sec.entries {
            *v = interpolate(v).map_err(|e| format!("{source}: [{k}]: {e}"))?;
        }
    }
    Ok(out)
}

/// ConfigParser's basic interpolation: `%%` is `%`; other `%` uses are
/// refused (pmrep's files use none).
fn interpolate(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            if chars.peek() == Some(&'%') {
                chars.next();
                out.push('%');
                continue;
            }
            return Err(format!("'%' must be followed by '%' in {v:?}"));
        }
        out.push(c);
    }
    Ok(out)
}

/// The files pmrep would read: `explicit` (-c), else the first of its
/// default places that exists; a directory gives its `*.conf` files sorted.
pub fn config_files(explicit: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let chosen = match explicit {
        Some(p) => {
            if !p.exists() {
                return Err(format!(
                    "Failed to read configuration from '{}':\nNo such file or directory.",
                    p.display()
                ));
            }
            Some(p.to_path_buf())
        }
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            let sysconf = std::env::var_os("PCP_SYSCONF_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/etc/pcp"));
            [
                PathBuf::from("./pmrep.conf"),
                home.join(".pmrep.conf"),
                home.join(".pcp/pmrep.conf"),
                sysconf.join("pmrep/pmrep.conf"),
                sysconf.join("pmrep"),
            ]
            .into_iter()
            .find(|p| p.is_file() || p.is_dir())
        }
    };
    let Some(path) = chosen else {
        return Ok(Vec::new());
    };
    if path.is_file() {
        return Ok(vec![path]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    Ok(files)
}

impl Config {
    /// Reads the configuration pmrep would (see [`config_files`]); with no
    /// file anywhere, the shipped presets.
    pub fn load(explicit: Option<&Path>) -> Result<Config, String> {
        let files = config_files(explicit)?;
        let mut texts: Vec<(String, String)> = Vec::new();
        for f in &files {
            let meta = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?;
            if meta.len() > 4 << 20 {
                return Err(format!("{}: larger than 4 MiB", f.display()));
            }
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            texts.push((f.display().to_string(), text));
        }
        if files.is_empty() {
            texts = SHIPPED
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
        }
        let mut config = Config::default();
        for (name, text) in &texts {
            config.add(name, text)?;
        }
        Ok(config)
    }

    /// Adds one file's sections.
    pub fn add(&mut self, source: &str, text: &str) -> Result<(), String> {
        for (name, section) in parse_ini(source, text)? {
            if name == "options" {
                for (k, v) in section.entries {
                    self.options.retain(|(key, _, _)| *key != k);
                    self.options.push((k, v, source.to_string()));
                }
                continue;
            }
            self.sections.retain(|(n, _)| *n != name);
            self.sections.push((name, section));
        }
        Ok(())
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// The metricset of section `name` (its option keys left out), as
    /// pmrep's parse_metric_info reads it.
    pub fn metricset(&self, name: &str, option_keys: &[&str]) -> Result<MetricSet, String> {
        let section = self
            .section(name)
            .ok_or_else(|| format!("Metricset definition ':{name}' not found."))?;
        parse_metricset(section, option_keys)
    }
}

/// Reads the metric specifications of a section.
pub fn parse_metricset(section: &Section, option_keys: &[&str]) -> Result<MetricSet, String> {
    // key -> [name, label, instances, unit, type, width, precision, limit]
    let mut keyed: Vec<(String, [Option<String>; 8])> = Vec::new();
    let mut set = MetricSet::default();
    for (key, value) in &section.entries {
        if option_keys.contains(&key.as_str()) {
            continue;
        }
        if value.is_empty() {
            return Err(format!(
                "Failed to read configuration file '{}':\nNo value set for {key}.",
                section.source
            ));
        }
        // pmrep's test: compact when the value has a comma, or when the
        // key's second dotted part is not a spec field (a metric name).
        let second = key.split('.').nth(1);
        let is_formula = second == Some("formula") && key.matches('.').count() == 1;
        let compact = !is_formula
            && (value.contains(',') || second.is_some_and(|s| !SPEC_FIELDS.contains(&s)));
        if compact {
            let mut fields = [None, None, None, None, None, None, None, None];
            fields[0] = Some(key.clone());
            let parts: Vec<&str> = value.splitn(7, ',').collect();
            for (i, p) in parts.iter().enumerate() {
                let p = p.trim();
                if !p.is_empty() {
                    fields[i + 1] = Some(p.to_string());
                }
            }
            keyed.push((key.clone(), fields));
            continue;
        }
        match key.split_once('.') {
            Some((base, field)) if SPEC_FIELDS.contains(&field) => {
                let Some((_, fields)) = keyed.iter_mut().find(|(k, _)| k == base) else {
                    return Err(format!(
                        "Failed to read configuration file '{}':\nUndeclared metric key {base}.",
                        section.source
                    ));
                };
                let v = value.trim_matches('"').to_string();
                if field == "formula" {
                    set.formulas
                        .push((fields[0].clone().unwrap_or_default(), v));
                } else {
                    let i = SPEC_FIELDS.iter().position(|f| *f == field).unwrap_or(0);
                    fields[i + 1] = Some(v);
                }
            }
            _ => {
                let mut fields = [None, None, None, None, None, None, None, None];
                fields[0] = Some(value.clone());
                keyed.push((key.clone(), fields));
            }
        }
    }
    for (_, f) in keyed {
        let num = |i: usize, what: &str| -> Result<Option<usize>, String> {
            match &f[i] {
                None => Ok(None),
                Some(s) => s
                    .parse::<usize>()
                    .map(Some)
                    .map_err(|_| format!("Non-negative integer expected for {what}: {s}")),
            }
        };
        set.metrics.push(MetricSpec {
            name: f[0].clone().unwrap_or_default(),
            label: f[1].clone(),
            instances: f[2]
                .as_deref()
                .map(|s| {
                    s.split(',')
                        .map(|x| x.trim_matches(['"', '\'']).to_string())
                        .collect()
                })
                .unwrap_or_default(),
            unit: f[3].clone(),
            raw: f[4].as_deref().map(|t| t == "raw"),
            width: num(5, "width")?,
            precision: num(6, "precision")?,
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_like_configparser() {
        let text = "[options]\n# c\nheader = yes\n\n[x]\nkernel.all.load = l,,,,7\nrrqm_pc = %%rrqm,,,,6\nrrqm_pc.formula = 100 * rate(a)\n  / rate(b)\nallcache = mem.util.allcache\nallcache.label = cache\nallcache.formula = mem.util.cached + mem.util.slab\nallcache.unit = KB\nallcache.width = 7\n";
        let mut c = Config::default();
        c.add("t", text).unwrap();
        assert_eq!(c.options[0].0, "header");
        let set = c.metricset("x", &["header"]).unwrap();
        assert_eq!(
            set.formulas,
            vec![
                (
                    "rrqm_pc".to_string(),
                    "100 * rate(a)\n/ rate(b)".to_string()
                ),
                (
                    "mem.util.allcache".to_string(),
                    "mem.util.cached + mem.util.slab".to_string()
                ),
            ]
        );
        assert_eq!(set.metrics[0].name, "kernel.all.load");
        assert_eq!(set.metrics[0].width, Some(7));
        assert_eq!(set.metrics[1].label.as_deref(), Some("%rrqm"));
        assert_eq!(set.metrics[2].name, "mem.util.allcache");
        assert_eq!(set.metrics[2].unit.as_deref(), Some("KB"));
        assert!(parse_ini("t", "[a]\nx = 1\nx = 2\n").is_err());
        assert!(parse_ini("t", "[a]\nx = 5%\n").is_err());
    }

    #[test]
    fn shipped_presets_parse() {
        let mut c = Config::default();
        for (n, t) in SHIPPED {
            c.add(n, t).unwrap();
        }
        for name in [
            "iostat-dktx",
            "iostat-dktx-dm",
            "vmstat",
            "sar",
            "mpstat",
            "pidstat",
        ] {
            let set = c.metricset(name, crate::watch::options::KEYS).unwrap();
            assert!(!set.metrics.is_empty(), "{name}");
        }
    }
}
