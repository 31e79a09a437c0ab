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

mod url_file;
pub use url_file::{sem_word, type_word, Filter, FilterAction, Metadata, UrlConfig};

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

#[cfg(test)]
mod tests;
