//! The configuration directory, read like the prometheus agent's config.d:
//! one file per source, subdirectories as name prefixes
//! (`web/frontend.check` is the check `web.frontend`), rescanned when any
//! directory in it changes.
//!
//! - `NAME.check`: a Nagios plugin to run. Its first line is the command
//!   line (`check_load -w 5,4,3 -c 10,8,6`; a bare plugin name is looked up
//!   in the monitoring-plugins directories, then on `PATH`), then optional
//!   keyword lines: `INTERVAL: 60` (seconds, or `30s`, `5m`), `TIMEOUT: 10`,
//!   `USER: nagios` (run as this user; the agent must run as root),
//!   `REGEX: (?P<users>\d+) users` (values from the status text for plugins
//!   that print no perfdata, by named or numbered capture group),
//!   `UNITS: users=` (the unit of a regex value, as a perfdata UOM).
//! - `NAME.perfdata`: a Nagios perfdata file to follow. Its first line is
//!   the file's path (Nagios's `service_perfdata_file` or
//!   `host_perfdata_file`), then optional `FORMAT: nagios` (Nagios 4's
//!   default templates, the default) or `FORMAT: pnp4nagios` (`KEY::value`
//!   fields), or `TEMPLATE: ...` (the file's `service_perfdata_file_template`,
//!   `\t` for a tab) and `HOST_TEMPLATE: ...`.
//!
//! Lines starting with `#` and blank lines are ignored; other files are
//! ignored too (a README, say).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use regex::Regex;

use crate::template::Template;

/// Nagios's default service check timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The default check interval (Nagios's `interval_length` of 60 s, one unit).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// One configured source.
#[derive(Debug, Clone)]
pub enum Source {
    /// A plugin the agent runs.
    Check(CheckConfig),
    /// A perfdata file the agent follows.
    File(FileConfig),
}

impl Source {
    /// The source's name (dotted, from its path in the directory).
    pub fn name(&self) -> &str {
        match self {
            Source::Check(c) => &c.name,
            Source::File(f) => &f.name,
        }
    }
}

/// A plugin check (`NAME.check`).
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The check's name (`web.frontend`).
    pub name: String,
    /// The command line as written.
    pub command: String,
    /// How often it runs.
    pub interval: Duration,
    /// How long a run may take before it is killed (state UNKNOWN).
    pub timeout: Duration,
    /// The user to run it as.
    pub user: Option<String>,
    /// Values taken from the status text.
    pub regex: Option<Regex>,
    /// Units of regex values, by capture name or number.
    pub units: Vec<(String, String)>,
}

/// A followed perfdata file (`NAME.perfdata`).
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// The source's name.
    pub name: String,
    /// The perfdata file.
    pub path: PathBuf,
    /// How service lines are laid out.
    pub service: Template,
    /// How host lines are laid out.
    pub host: Template,
}

/// A file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The sources of a directory and the files that were refused.
#[derive(Debug, Default)]
pub struct Scan {
    /// Usable sources, sorted by name.
    pub sources: Vec<Source>,
    /// Refused files.
    pub errors: Vec<ConfigError>,
    /// The newest modification time of any directory or file read: a
    /// later rescan is needed only when this moves.
    pub stamp: Option<SystemTime>,
}

/// Reads every source under `dir`. A missing directory gives no sources
/// and one error.
pub fn scan(dir: &Path) -> Scan {
    let mut scan = Scan::default();
    walk(dir, "", &mut scan, 0);
    scan.sources.sort_by(|a, b| a.name().cmp(b.name()));
    scan
}

/// The newest modification time under `dir` (directories and files), to
/// notice edits without re-reading everything.
pub fn stamp(dir: &Path) -> Option<SystemTime> {
    fn go(dir: &Path, best: &mut Option<SystemTime>, depth: usize) {
        let Ok(meta) = std::fs::metadata(dir) else {
            return;
        };
        bump(best, meta.modified().ok());
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            bump(best, m.modified().ok());
            if m.is_dir() && depth < 8 {
                go(&e.path(), best, depth + 1);
            }
        }
    }
    let mut best = None;
    go(dir, &mut best, 0);
    best
}

fn bump(best: &mut Option<SystemTime>, t: Option<SystemTime>) {
    if let Some(t) = t {
        if best.is_none_or(|b| t > b) {
            *best = Some(t);
        }
    }
}

fn walk(dir: &Path, prefix: &str, scan: &mut Scan, depth: usize) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            scan.errors.push(ConfigError {
                path: dir.to_path_buf(),
                reason: format!("cannot read the directory: {e}"),
            });
            return;
        }
    };
    bump(
        &mut scan.stamp,
        std::fs::metadata(dir).and_then(|m| m.modified()).ok(),
    );
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Some(fname) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if fname.starts_with('.') {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            if depth < 8 {
                walk(&path, &format!("{prefix}{fname}."), scan, depth + 1);
            }
            continue;
        }
        bump(&mut scan.stamp, meta.modified().ok());
        let (stem, kind) = match fname.rsplit_once('.') {
            Some((s, "check")) => (s, true),
            Some((s, "perfdata")) => (s, false),
            _ => continue,
        };
        let name = format!("{prefix}{stem}");
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                if kind {
                    parse_check(&name, &text).map(Source::Check)
                } else {
                    parse_file(&name, &text).map(Source::File)
                }
            });
        match parsed {
            Ok(s) => scan.sources.push(s),
            Err(reason) => scan.errors.push(ConfigError { path, reason }),
        }
    }
}

/// The meaningful lines: first line, then `KEY: value` pairs.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn keyword(line: &str) -> Result<(String, &str), String> {
    let (k, v) = line
        .split_once(':')
        .ok_or_else(|| format!("expected KEYWORD: value, got {line:?}"))?;
    Ok((k.trim().to_ascii_uppercase(), v.trim()))
}

/// A duration in seconds, or with a unit: `90`, `30s`, `5m`, `1h`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {text:?}"))?;
    if !(v.is_finite() && v > 0.0 && v * mult <= 86_400.0 * 7.0) {
        return Err(format!("duration out of range (0, 7 days]: {text:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Parses the text of a `.check` file.
pub fn parse_check(name: &str, text: &str) -> Result<CheckConfig, String> {
    let mut it = lines(text);
    let command = it.next().ok_or("no command line")?.to_string();
    let mut c = CheckConfig {
        name: name.to_string(),
        command,
        interval: DEFAULT_INTERVAL,
        timeout: DEFAULT_TIMEOUT,
        user: None,
        regex: None,
        units: Vec::new(),
    };
    for line in it {
        let (k, v) = keyword(line)?;
        match k.as_str() {
            "INTERVAL" => c.interval = parse_duration(v)?,
            "TIMEOUT" => c.timeout = parse_duration(v)?,
            "USER" => c.user = Some(v.to_string()),
            "REGEX" => {
                let re = Regex::new(v).map_err(|e| format!("bad REGEX: {e}"))?;
                c.regex = Some(re);
            }
            "UNITS" => {
                let (label, uom) = v
                    .split_once('=')
                    .ok_or_else(|| format!("UNITS wants label=uom, got {v:?}"))?;
                c.units
                    .push((label.trim().to_string(), uom.trim().to_string()));
            }
            other => return Err(format!("unknown keyword {other}")),
        }
    }
    Ok(c)
}

/// Parses the text of a `.perfdata` file.
pub fn parse_file(name: &str, text: &str) -> Result<FileConfig, String> {
    let mut it = lines(text);
    let path = PathBuf::from(it.next().ok_or("no perfdata file path")?);
    if !path.is_absolute() {
        return Err(format!(
            "the perfdata file path must be absolute: {}",
            path.display()
        ));
    }
    let mut f = FileConfig {
        name: name.to_string(),
        path,
        service: Template::nagios_service(),
        host: Template::nagios_host(),
    };
    for line in it {
        let (k, v) = keyword(line)?;
        match k.as_str() {
            "FORMAT" => match v.to_ascii_lowercase().as_str() {
                "nagios" => {
                    f.service = Template::nagios_service();
                    f.host = Template::nagios_host();
                }
                "pnp4nagios" => {
                    f.service = Template::keyed();
                    f.host = Template::keyed();
                }
                other => return Err(format!("unknown FORMAT {other:?} (nagios, pnp4nagios)")),
            },
            "TEMPLATE" => f.service = Template::parse(&v.replace("\\t", "\t"))?,
            "HOST_TEMPLATE" => f.host = Template::parse(&v.replace("\\t", "\t"))?,
            other => return Err(format!("unknown keyword {other}")),
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_files_and_keywords() {
        let c = parse_check(
            "load",
            "# system load\ncheck_load -w 5,4,3 -c 10,8,6\nINTERVAL: 30s\nTIMEOUT: 5\nUNITS: x=s\n",
        )
        .unwrap();
        assert_eq!(c.command, "check_load -w 5,4,3 -c 10,8,6");
        assert_eq!(c.interval, Duration::from_secs(30));
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.units, vec![("x".to_string(), "s".to_string())]);
        assert!(parse_check("x", "").is_err());
        assert!(parse_check("x", "cmd\nBOGUS: 1").is_err());
        assert!(parse_check("x", "cmd\nINTERVAL: 0").is_err());
        assert!(parse_check("x", "cmd\nREGEX: (").is_err());
    }

    #[test]
    fn directories_name_sources() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("web")).unwrap();
        std::fs::write(d.path().join("web/front.check"), "check_dummy 0\n").unwrap();
        std::fs::write(d.path().join("nagios.perfdata"), "/var/lib/nagios4/perf\n").unwrap();
        std::fs::write(d.path().join("bad.perfdata"), "relative/path\n").unwrap();
        std::fs::write(d.path().join("README"), "ignored\n").unwrap();
        let s = scan(d.path());
        let names: Vec<_> = s.sources.iter().map(|s| s.name().to_string()).collect();
        assert_eq!(names, ["nagios", "web.front"]);
        assert_eq!(s.errors.len(), 1);
        assert!(s.errors[0].reason.contains("absolute"), "{:?}", s.errors);
        assert!(s.stamp.is_some());
    }
}
