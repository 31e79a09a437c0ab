//! Persistent ids: a name, once given a number (a cluster, an item, an
//! instance id), keeps it across restarts, config edits and source outages,
//! as PCP's `pmdaCache` does.
//!
//! # On-disk format
//!
//! A [`StateDir`] holds one text file per id cache, `<cache>.ids`:
//!
//! ```text
//! # pcp-agent id cache v1
//! # cache: prometheus.clusters
//! # range: 0 4095
//! # next: 3
//! 0 "node"
//! 1 "grafana"
//! 2 "scripts.loadavg"
//! # end 3
//! ```
//!
//! Each entry line is the id, a space, and the name as a JSON string (so any
//! name, with spaces, quotes or newlines, is kept exactly). `next` is the
//! lowest id never handed out; it is in the header so that a truncated file
//! still prevents an id from being reused for a different name. The `end`
//! line counts the entries; a file without it, or with a bad line, is
//! reported as corrupt: its valid entries are kept, the file is kept aside
//! as `<cache>.ids.corrupt`, and a fresh file is written. Files are replaced
//! atomically (write to a temporary file, fsync, rename, fsync the
//! directory). A lock file (`.lock`, held with `flock`) stops two processes
//! from using one state directory.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;

const MAGIC: &str = "# pcp-agent id cache v1";

/// A directory of id caches, locked for this process while it is open.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StateDir {
    /// Opens (creating if needed) the state directory and takes its lock.
    /// Fails with [`StoreError::Locked`] if another process (or another
    /// `StateDir` in this one) holds it.
    pub fn open(path: impl AsRef<Path>) -> Result<StateDir, StoreError> {
        let path = path.as_ref().to_path_buf();
        fs::create_dir_all(&path).map_err(io_err(&path))?;
        let lock_path = path.join(".lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // SAFETY: flock on a valid descriptor we own.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StoreError::Locked {
                    path,
                    lock: lock_path,
                    holder: if holder.is_empty() {
                        String::new()
                    } else {
                        format!(", by pid {holder}")
                    },
                });
            }
            return Err(StoreError::Io {
                path: lock_path,
                source: err,
            });
        }
        let _ = lock.set_len(0);
        let _ = write!(lock, "{}", std::process::id());
        Ok(StateDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads (or creates) the cache `name`, whose ids run from `min` to
    /// `max` inclusive. Problems found in the file (corruption, truncation)
    /// are returned as warnings next to the recovered cache, never as a
    /// failure; only I/O errors fail.
    pub fn cache(
        &self,
        name: &str,
        min: u32,
        max: u32,
    ) -> Result<(IdCache, Vec<String>), StoreError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            || name.starts_with('.')
        {
            return Err(StoreError::BadCacheName(name.to_string()));
        }
        IdCache::open_file(
            &self.path.join(format!("{name}.ids")),
            name,
            min,
            max,
            FileFormat::Text,
        )
    }
}

/// Where PCP's agents keep their id caches: `$PCP_VAR_DIR/config/pmda`,
/// with `PCP_VAR_DIR` from the environment, else from `$PCP_CONF` (or
/// `/etc/pcp.conf`), else `/var/lib/pcp`.
pub fn pmda_cache_dir() -> PathBuf {
    let var = std::env::var_os("PCP_VAR_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let conf = std::env::var_os("PCP_CONF").unwrap_or_else(|| "/etc/pcp.conf".into());
            let text = fs::read_to_string(conf).ok()?;
            text.lines()
                .find_map(|l| l.trim().strip_prefix("PCP_VAR_DIR="))
                .map(|v| PathBuf::from(v.trim().trim_matches('"')))
        })
        .unwrap_or_else(|| PathBuf::from("/var/lib/pcp"));
    var.join("config").join("pmda")
}

/// Loads the cache `name` from `dir` without taking the directory's lock
/// and without ever writing it: for a second process (a one-off query)
/// while the agent that owns the state directory runs. Ids assigned here
/// live only in memory.
pub fn read_only_cache(dir: &Path, name: &str, min: u32, max: u32) -> (IdCache, Vec<String>) {
    let mut cache = IdCache::in_memory(name, min, max);
    let file = dir.join(format!("{name}.ids"));
    let warnings = match fs::read(&file) {
        Ok(bytes) => cache.load_text(&String::from_utf8_lossy(&bytes), &file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => vec![format!("{}: {e}", file.display())],
    };
    (cache, warnings)
}

/// How a cache file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// This project's text format (see the module documentation).
    Text,
    /// PCP's Python PMDA name table (pmdaopenmetrics's
    /// `$PCP_VAR_DIR/config/pmda/144.N.py`, see [`crate::pytable`]): the
    /// names in id order from `min`, and the cache's flag.
    PythonTable,
}

/// One id space: names to ids and back, with a range and a high-water mark.
#[derive(Debug, Clone)]
pub struct IdCache {
    name: String,
    min: u32,
    max: u32,
    next: u32,
    // One allocation per name, shared by both maps (instance caches of
    // large sources hold millions of names).
    by_name: HashMap<Arc<str>, u32>,
    by_id: BTreeMap<u32, Arc<str>>,
    file: Option<PathBuf>,
    format: FileFormat,
    flag: bool,
    dirty: bool,
}

impl IdCache {
    /// A cache that is never written to disk (ids from `min` to `max`).
    pub fn in_memory(name: &str, min: u32, max: u32) -> IdCache {
        IdCache {
            name: name.to_string(),
            min,
            max,
            next: min,
            by_name: HashMap::new(),
            by_id: BTreeMap::new(),
            file: None,
            format: FileFormat::Text,
            flag: false,
            dirty: false,
        }
    }

    /// Loads (or creates) the cache kept in `file`, in `format`, whose ids
    /// run from `min` to `max` inclusive. Problems found in the file
    /// (corruption, truncation) are returned as warnings next to the
    /// recovered cache, never as a failure: the file is kept aside as
    /// `<file>.corrupt` and rewritten. Only I/O errors fail.
    pub fn open_file(
        file: &Path,
        name: &str,
        min: u32,
        max: u32,
        format: FileFormat,
    ) -> Result<(IdCache, Vec<String>), StoreError> {
        let (mut cache, warnings) = IdCache::read_file(file, name, min, max, format)?;
        cache.file = Some(file.to_path_buf());
        cache.format = format;
        if !warnings.is_empty() {
            let mut aside = file.as_os_str().to_owned();
            aside.push(".corrupt");
            let _ = fs::rename(file, &aside);
            cache.dirty = true;
            cache.save()?;
        }
        Ok((cache, warnings))
    }

    /// Reads the cache kept in `file` without ever writing it: an
    /// in-memory copy (empty if there is no file), and what was wrong with
    /// the file. Only I/O errors other than a missing file fail.
    pub fn read_file(
        file: &Path,
        name: &str,
        min: u32,
        max: u32,
        format: FileFormat,
    ) -> Result<(IdCache, Vec<String>), StoreError> {
        let mut cache = IdCache::in_memory(name, min, max);
        let bytes = match fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((cache, Vec::new())),
            Err(e) => {
                return Err(StoreError::Io {
                    path: file.to_path_buf(),
                    source: e,
                })
            }
        };
        let warnings = match format {
            FileFormat::Text => cache.load_text(&String::from_utf8_lossy(&bytes), file),
            FileFormat::PythonTable => cache.load_table(&bytes, file),
        };
        Ok((cache, warnings))
    }

    /// Takes over every assignment of `other` (ids, names, high-water mark
    /// and flag) when this cache has none yet: how an agent adopts another
    /// agent's ids for the same names. Returns true if it did.
    pub fn seed_from(&mut self, other: &IdCache) -> bool {
        if !self.by_id.is_empty() || other.by_id.is_empty() {
            return false;
        }
        for (&id, name) in other.by_id.range(self.min..=self.max) {
            self.by_id.insert(id, name.clone());
            self.by_name.insert(name.clone(), id);
        }
        self.next = other
            .next
            .clamp(self.min, self.max.saturating_add(1))
            .max(self.next);
        self.flag = other.flag;
        self.dirty = true;
        true
    }

    /// The cache's flag (kept by the [`FileFormat::PythonTable`] format;
    /// pmdaopenmetrics records there whether instance names carry their
    /// id as a prefix).
    pub fn flag(&self) -> bool {
        self.flag
    }

    /// Sets the flag (saved with the next [`IdCache::save`] if it changed
    /// and the file format keeps it).
    pub fn set_flag(&mut self, flag: bool) {
        if self.flag != flag {
            self.flag = flag;
            self.dirty |= self.format == FileFormat::PythonTable;
        }
    }

    /// The id of `name`, if it has one.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The name holding `id`.
    pub fn name_of(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(|n| &**n)
    }

    /// The name holding `id`, shared (no copy of the text).
    pub fn shared_name(&self, id: u32) -> Option<Arc<str>> {
        self.by_id.get(&id).cloned()
    }

    /// The id of `name`, assigning the next free one if it has none. Fails
    /// with [`StoreError::Full`] when the range is used up.
    pub fn assign(&mut self, name: &str) -> Result<u32, StoreError> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(id);
        }
        let id = self.next_free().ok_or_else(|| StoreError::Full {
            cache: self.name.clone(),
            limit: self.max as u64 - self.min as u64 + 1,
        })?;
        let shared: Arc<str> = Arc::from(name);
        self.by_name.insert(Arc::clone(&shared), id);
        self.by_id.insert(id, shared);
        self.next = id.saturating_add(1);
        self.dirty = true;
        Ok(id)
    }

    /// Gives `name` the id `id` (an id no other name holds, within the
    /// range), or returns the id it has already. For allocators that choose
    /// ids themselves and keep only some of them here.
    pub fn assign_id(&mut self, name: &str, id: u32) -> Result<u32, StoreError> {
        if let Some(&have) = self.by_name.get(name) {
            return Ok(have);
        }
        if id < self.min || id > self.max || self.by_id.contains_key(&id) {
            return Err(StoreError::Taken {
                cache: self.name.clone(),
                id,
            });
        }
        let shared: Arc<str> = Arc::from(name);
        self.by_name.insert(Arc::clone(&shared), id);
        self.by_id.insert(id, shared);
        self.next = self.next.max(id.saturating_add(1));
        self.dirty = true;
        Ok(id)
    }

    /// True when a name holds `id`.
    pub fn holds(&self, id: u32) -> bool {
        self.by_id.contains_key(&id)
    }

    fn next_free(&self) -> Option<u32> {
        if self.next <= self.max && !self.by_id.contains_key(&self.next) {
            return Some(self.next);
        }
        // Past the high-water mark: only ids never handed out may be used.
        let start = self
            .next
            .max(self.by_id.keys().next_back().map_or(self.min, |m| m + 1));
        (start <= self.max).then_some(start)
    }

    /// Every (name, id) pair, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.by_id.iter().map(|(id, n)| (&**n, *id))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no name has an id.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// True when there are assignments not yet saved.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Writes the cache atomically if it changed (no-op in memory).
    pub fn save(&mut self) -> Result<(), StoreError> {
        match self.snapshot() {
            Some(s) => s.write().inspect_err(|_| self.dirty = true),
            None => Ok(()),
        }
    }

    /// The cache's assignments now, if they changed since the last save,
    /// to be written later ([`CacheSnapshot::write`]) without holding
    /// whatever guards the cache: taking it costs a reference count per
    /// name, writing it is the slow part. The cache counts as saved.
    pub fn snapshot(&mut self) -> Option<CacheSnapshot> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let file = self.file.clone()?;
        Some(CacheSnapshot {
            file,
            format: self.format,
            flag: self.flag,
            min: self.min,
            header: format!(
                "{MAGIC}\n# cache: {}\n# range: {} {}\n# next: {}\n",
                self.name, self.min, self.max, self.next
            ),
            entries: self
                .by_id
                .iter()
                .map(|(id, n)| (*id, Arc::clone(n)))
                .collect(),
        })
    }
}

/// An id cache's assignments at one moment, ready to be written to its
/// file (see [`IdCache::snapshot`]).
#[derive(Debug, Clone)]
pub struct CacheSnapshot {
    file: PathBuf,
    format: FileFormat,
    flag: bool,
    min: u32,
    header: String,
    entries: Vec<(u32, Arc<str>)>,
}

impl CacheSnapshot {
    /// The file it belongs in.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Writes it, atomically.
    pub fn write(&self) -> Result<(), StoreError> {
        if self.format == FileFormat::PythonTable {
            // Positions are ids: an id never given out (a gap) is "".
            let end = self.entries.last().map_or(self.min, |(m, _)| m + 1);
            let mut names = vec![String::new(); (end - self.min) as usize];
            for (id, name) in &self.entries {
                names[(id - self.min) as usize] = name.to_string();
            }
            return write_atomic(&self.file, &crate::pytable::encode(&names, self.flag));
        }
        let mut text = String::with_capacity(64 + self.entries.len() * 24);
        text.push_str(&self.header);
        for (id, name) in &self.entries {
            text.push_str(&id.to_string());
            text.push(' ');
            text.push_str(&serde_json::Value::String(name.to_string()).to_string());
            text.push('\n');
        }
        text.push_str(&format!("# end {}\n", self.entries.len()));
        write_atomic(&self.file, text.as_bytes())
    }
}

impl IdCache {
    /// Reads a Python name table, keeping every valid entry; returns what
    /// was wrong.
    fn load_table(&mut self, bytes: &[u8], file: &Path) -> Vec<String> {
        let where_ = file.display();
        let (names, flag) = match crate::pytable::decode(bytes) {
            Ok(t) => t,
            Err(e) => return vec![format!("{where_}: {e}; rebuilt")],
        };
        let mut warnings = Vec::new();
        self.flag = flag.unwrap_or(false);
        for (pos, name) in names.into_iter().enumerate() {
            let id = self.min as u64 + pos as u64;
            if id > self.max as u64 {
                warnings.push(format!(
                    "{where_}: more than {} names; the rest dropped",
                    self.max as u64 - self.min as u64 + 1
                ));
                break;
            }
            let id = id as u32;
            // Its position stays taken even when its name is unknown.
            self.next = id + 1;
            if name.is_empty() {
                continue;
            }
            if self.by_name.contains_key(name.as_str()) {
                warnings.push(format!("{where_}: name {name:?} given twice; first kept"));
                continue;
            }
            let shared: Arc<str> = Arc::from(name);
            self.by_name.insert(Arc::clone(&shared), id);
            self.by_id.insert(id, shared);
        }
        warnings
    }

    /// Parses a cache file, keeping every valid entry; returns what was wrong.
    fn load_text(&mut self, text: &str, file: &Path) -> Vec<String> {
        let mut warnings = Vec::new();
        let where_ = file.display();
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            warnings.push(format!(
                "{where_}: not an id cache file (bad first line); rebuilt"
            ));
            return warnings;
        }
        let mut end_count = None;
        let mut next_hint = None;
        for (n, line) in lines.enumerate() {
            let lineno = n + 2;
            if let Some(rest) = line.strip_prefix("# ") {
                if let Some(v) = rest.strip_prefix("next: ") {
                    next_hint = v.trim().parse::<u32>().ok();
                } else if let Some(v) = rest.strip_prefix("end ") {
                    end_count = v.trim().parse::<usize>().ok();
                }
                continue;
            }
            if end_count.is_some() {
                warnings.push(format!("{where_}:{lineno}: data after the end line"));
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(id, name)| {
                let id = id.parse::<u32>().ok()?;
                let name: String = serde_json::from_str(name).ok()?;
                Some((id, name))
            });
            match parsed {
                Some((id, _)) if id < self.min || id > self.max => warnings.push(format!(
                    "{where_}:{lineno}: id {id} outside {}..={}",
                    self.min, self.max
                )),
                Some((id, name))
                    if self.by_id.contains_key(&id) || self.by_name.contains_key(name.as_str()) =>
                {
                    warnings.push(format!(
                        "{where_}:{lineno}: id {id} or name {name:?} given twice; first kept"
                    ))
                }
                Some((id, name)) => {
                    let shared: Arc<str> = Arc::from(name);
                    self.by_name.insert(Arc::clone(&shared), id);
                    self.by_id.insert(id, shared);
                }
                None => warnings.push(format!("{where_}:{lineno}: malformed entry {line:?}")),
            }
        }
        match end_count {
            None => warnings.push(format!(
                "{where_}: truncated (no end line); {} entries recovered",
                self.by_id.len()
            )),
            Some(c) if c != self.by_id.len() => warnings.push(format!(
                "{where_}: end line says {c} entries, found {}",
                self.by_id.len()
            )),
            _ => {}
        }
        let max_seen = self
            .by_id
            .keys()
            .next_back()
            .map_or(self.min, |m| m.saturating_add(1));
        self.next = next_hint.unwrap_or(self.min).max(max_seen).max(self.min);
        warnings
    }
}

/// Replaces `path` with `data` atomically: temporary file, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests;
